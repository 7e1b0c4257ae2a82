from rest_framework.pagination import PageNumberPagination


class BoundedPageNumberPagination(PageNumberPagination):
    """Page-number pagination whose page size a client may choose, up to a bound.

    A page size above the bound is clamped to it; a page number past the last page (or not
    a number) is a 404, never a 500."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
