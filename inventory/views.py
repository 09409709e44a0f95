from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django.views.generic import TemplateView

from affiliates.views import AffiliateRequiredMixin
from inventory import selectors
from inventory.models import Item, visibility_threshold


def feed_response(affiliate) -> StreamingHttpResponse:
    """The affiliate's feed as a CSV download, streamed: memory stays flat at any size."""
    response = StreamingHttpResponse(
        selectors.catalog_csv(affiliate=affiliate), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="fbs-feed-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


class CatalogView(AffiliateRequiredMixin, TemplateView):
    template_name = "inventory/catalog_list.html"

    def get_template_names(self):
        if self.request.htmx:
            return ["inventory/_catalog_results.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        try:
            page = selectors.catalog_page(
                affiliate=self.affiliate,
                search=params.get("search", "")[:60],
                line_code=params.get("line_code", "")[:10],
                cursor=params.get("cursor") or None,
            )
        except selectors.CursorInvalidError:
            page = selectors.catalog_page(affiliate=self.affiliate)
            context["cursor_error"] = True
        context.update(
            page=page,
            search=params.get("search", ""),
            line_code=page.line_code,
            first_page=not params.get("cursor"),
            threshold=visibility_threshold(self.affiliate),
        )
        return context


class ItemDetailView(AffiliateRequiredMixin, TemplateView):
    template_name = "inventory/item_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            context["item"] = selectors.item_for_affiliate(
                affiliate=self.affiliate, item_id=self.kwargs["pk"]
            )
        except Item.DoesNotExist as exc:
            # Hidden and unknown look the same: a hidden item does not exist for this affiliate.
            raise Http404("No such item.") from exc
        return context


class FeedDownloadView(AffiliateRequiredMixin, TemplateView):
    def get(self, request, *args, **kwargs):
        return feed_response(self.affiliate)
