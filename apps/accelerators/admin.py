"""The tenant admin's flows page gains "Install an accelerator": the flows admin of ``apps.runs``, extended here
so that runs never imports templates (the URL keeps its name, ``admin:runs_flow_install``)."""

from django.contrib import admin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from apps.accelerators.forms import TemplateInstallForm
from apps.accelerators.selectors import template_chosen
from apps.accelerators.services import template_install
from apps.common.errors import ApplicationError
from apps.runs.admin import FlowAdmin as RunsFlowAdmin
from apps.runs.models import Flow
from apps.tenants.admin_sites import tenant_admin_site

tenant_admin_site.unregister(Flow)


@admin.register(Flow, site=tenant_admin_site)
class FlowAdmin(RunsFlowAdmin):
    change_list_template = "admin/accelerators/flow_change_list.html"

    def get_urls(self):
        install = self.admin_site.admin_view(self.install_view)
        return [path("install/", install, name="runs_flow_install"), *super().get_urls()]

    def install_view(self, request):
        if not self._can(request, "template.install"):
            return redirect("admin:index")
        template = template_chosen(request.tenant, request.POST.get("template") or request.GET.get("template"))
        form = TemplateInstallForm(request.POST or None, customer=request.tenant, template=template)
        if request.method == "POST" and form.is_valid():
            try:
                report = template_install(template=form.cleaned_data["template"], variables=form.variables(),
                                          customer=request.tenant, acting_user=request.user)
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"Installed {form.cleaned_data['template']}: "
                                           f"{len(report.created)} created, {len(report.updated)} updated, "
                                           f"{len(report.unchanged)} unchanged.")
                return redirect("admin:runs_flow_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
                   "template": template, "variables": list(form)[1:], "title": "Install an accelerator"}
        return TemplateResponse(request, "admin/accelerators/install.html", context)
