"""Static files in production: whitenoise's compressed, hashed-name storage."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed names and compression, without rewriting JavaScript's ``sourceMappingURL`` comments: the vendored
    libraries (static/vendor, copied from npm) name source maps that are not shipped, and Django's rewriting
    refuses a missing one, which made ``collectstatic`` fail in production. CSS references are still hashed."""

    patterns = tuple(entry for entry in CompressedManifestStaticFilesStorage.patterns if entry[0] != "*.js")
