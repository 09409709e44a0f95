"""Project-wide views: the favicon and the answer to a request Django refused."""

from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.http import require_safe

from sophio_fbs.api import TOO_LARGE


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says; the file is a static one."""
    return HttpResponseRedirect(static("favicon.ico"))


def bad_request(request, exception, template_name="400.html"):
    """Django's 400, except that a body over the stated limit is a 413, as it is."""
    if isinstance(exception, TOO_LARGE):
        response = TemplateResponse(request, "413.html", status=413)
        return response.render()
    return defaults.bad_request(request, exception, template_name=template_name)
