from sophio_fbs.errors import DomainError


class FeedRejectedError(DomainError):
    """The file is not a warehouse feed: nothing of it is applied."""

    code = "feed_rejected"


class ItemNotVisibleError(DomainError):
    code = "not_found"
    status_code = 404
