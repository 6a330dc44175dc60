"""Admin building blocks every app's ModelAdmins share.

* `OneClickActionsMixin` gives a ModelAdmin buttons that do one thing to one
  row (acknowledge this alert, approve this draft), from the list, the
  change page or the index, and bring the user back where they were. Each
  is a POST with the admin's CSRF token, checks the same permissions and
  visibility as the change page, and is written to the object's history.
* `ReadOnlyAdminMixin`: records the agents write and people only read.
* `VisibleToUserAdminMixin`: the list and change pages show only what the
  user may see (`OwnedQuerySet.visible_to`, the one visibility rule).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from agents_core import audit
from agents_core.pagination import CountingPaginator


class ActionRefused(Exception):
    """The action cannot be done to this object now; the message says why."""


def one_click(label: str, *, permission: str = "change"):
    """Mark `do_<name>(self, request, obj) -> message` as a one-click action.

    `permission` names the ModelAdmin's `has_<permission>_permission` check.
    """

    def decorate(method):
        method.one_click = {"label": label, "permission": permission}
        return method

    return decorate


def back_to(request, default: str) -> str:
    """Where the user came from, if it is this site; else `default`."""
    target = request.POST.get("next") or request.headers.get("referer", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


class OneClickActionsMixin:
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/do/<slug:action>/",
                self.admin_site.admin_view(self.one_click_view),
                name="{}_{}_do".format(*info),
            ),
            *super().get_urls(),
        ]

    def _one_click_method(self, action: str):
        method = getattr(self, f"do_{action.replace('-', '_')}", None)
        if method is None or not hasattr(method, "one_click"):
            raise Http404(f"No action {action!r} here.")
        return method

    def one_click_view(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        method = self._one_click_method(action)
        obj = self.get_object(request, unquote(object_id))  # only what this user may see
        if obj is None:
            raise Http404("No such object, or not yours to see.")
        if not getattr(self, f"has_{method.one_click['permission']}_permission")(request, obj):
            raise PermissionDenied
        try:
            message, level = method(request, obj), messages.SUCCESS
        except ActionRefused as exc:
            message, level = str(exc), messages.WARNING
        else:
            self.log_change(request, obj, message)
            audit.record(
                audit.Action.ACTION,
                request=request,
                target=f"{self.opts.label} {obj.pk}: {obj}",
                action=action,
            )
        self.message_user(request, message, level)
        default = reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[quote(obj.pk)],
        )
        return HttpResponseRedirect(back_to(request, default))

    def one_click_url(self, obj, action: str) -> str:
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_do",
            args=[quote(obj.pk), action],
        )

    def one_click_button(self, obj, action: str, *, primary: bool = False) -> str:
        """A submit button for the form it sits in.

        The admin's list and change forms carry the CSRF token; `formaction`
        sends that form here instead of to its own action.
        """
        method = self._one_click_method(action)
        return format_html(
            '<button type="submit" class="tend-button{}" formaction="{}" formmethod="post" formnovalidate '
            'data-action="{}">{}</button>',
            " tend-button-primary" if primary else "",
            self.one_click_url(obj, action),
            action,
            method.one_click["label"],
        )


class ReadOnlyAdminMixin:
    """Nobody adds or edits these rows by hand: agents write them, people read them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VisibleToUserAdminMixin:
    """Lists and change pages limited to the rows the user may see; a very long list is not counted
    on every page (agents_core.pagination: the planner's estimate, shown as "about")."""

    paginator = CountingPaginator

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)
