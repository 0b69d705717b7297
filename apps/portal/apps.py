from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "apps.portal"

    def ready(self) -> None:
        from apps.portal.receivers import on_figures_refreshed
        from apps.portal.reports import REPORTS
        from apps.reporting.signals import figures_refreshed
        from apps.tenants.plans import plan_gate_route

        figures_refreshed.connect(on_figures_refreshed, dispatch_uid="portal-review-after-refresh")

        # The reports API (apps.reporting.api) answers the same figures: gate them by the same features.
        for report in REPORTS.values():
            if report.feature:
                for route in ("api:report", "api:report-csv"):
                    plan_gate_route(route=route, feature=report.feature, name=report.slug)
