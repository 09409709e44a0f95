from sophio_fbs.errors import DomainError


class FeedRejectedError(DomainError):
    """The file is not a warehouse feed: nothing of it is applied."""

    code = "feed_rejected"


class WarehouseUnknownError(DomainError):
    """A feed names a warehouse that does not exist: it is not created by accident."""

    code = "warehouse_unknown"


class ItemNotVisibleError(DomainError):
    code = "not_found"
    status_code = 404
