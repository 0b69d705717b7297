from apps.bi.snapshots import bi_snapshots_write


def bi_snapshots_nightly() -> int:
    return bi_snapshots_write()
