"""The status page's search and filter form, the sortable column heads and the pager: plain
HTML that works without JavaScript (the form is a GET form to `/`; every link carries the
query), from a `fleet_query.FleetPage`."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from gateway.local.fleet_query import PER_PAGE, PROBLEM, SOON_DAYS, SORTS, FleetPage, FleetQuery
from gateway.local.live_view import STATES

SORT_NAMES = {"problems": "Problems first", "name": "Name", "model": "Model", "state": "State",
              "supply": "Lowest supply", "reading": "Last reading"}


def render_form(page: FleetPage) -> str:
    """Search text, the filters and the sort, submitted as a GET to `/` (page 1)."""
    q = page.query
    states = _options([("", "any state"), (PROBLEM, "needs a look"),
                       *((s, s) for s in STATES)], q.state)
    models = _options([("", "any model"), *((m, m) for m in page.models)], q.model)
    sorts = _options(((s, SORT_NAMES[s]) for s in SORTS), q.sort)
    sites = (f'<label>Site <select name="site">'
             f'{_options([("", "any site"), *((s, s) for s in page.site_names)], q.site)}'
             "</select></label>") if page.site_names else ""
    per_page = (f'<input type="hidden" name="per_page" value="{q.per_page}">'
                if q.per_page != PER_PAGE else "")
    order = '<input type="hidden" name="order" value="desc">' if q.descending else ""
    return (
        '<form class="filters" id="filters" method="get" action="/" role="search">'
        f'<input type="search" name="q" value="{escape(q.text)}" '
        'placeholder="serial, model, address, location, site" aria-label="Search">'
        f'<label>State <select name="state">{states}</select></label>'
        f'<label>Model <select name="model">{models}</select></label>{sites}'
        f'<label><input type="checkbox" name="low" value="1"{_checked(q.low)}> low supplies'
        "</label>"
        f'<label><input type="checkbox" name="alerts" value="1"{_checked(q.alerts)}> alerts'
        "</label>"
        f'<label><input type="checkbox" name="soon" value="1"{_checked(q.soon)}> empty within '
        f"{SOON_DAYS} days</label>"
        f'<label>Sort <select name="sort">{sorts}</select></label>{order}{per_page}'
        '<button type="submit">Show</button>'
        f'{_clear(q)}</form>')


def sort_head(query: FleetQuery, sort: str, label: str) -> str:
    """A column head linking to the list sorted by it (again: the other way round)."""
    current = query.sort == sort
    descending = current and not query.descending
    arrow = (" ▼" if query.descending else " ▲") if current else ""
    sorted_as = ' aria-sort="descending"' if current and query.descending else \
        ' aria-sort="ascending"' if current else ""
    link = query.params(sort=sort, descending=descending, page=1)
    return f'<th{sorted_as}><a href="/{escape(link)}">{escape(label)}{arrow}</a></th>'


def render_pager(page: FleetPage) -> str:
    """`n of m` matching, and links to the first, previous, next and last pages."""
    q = page.query
    first = (q.page - 1) * q.per_page + 1 if page.matched else 0
    last = min(q.page * q.per_page, page.matched)
    links = []
    for label, number, rel in (("&laquo; first", 1, "first"),
                               ("&lsaquo; previous", q.page - 1, "prev"),
                               ("next &rsaquo;", q.page + 1, "next"),
                               ("last &raquo;", page.pages, "last")):
        if 1 <= number <= page.pages and number != q.page:
            links.append(f'<a rel="{rel}" href="/{escape(q.params(page=number))}">{label}</a>')
        else:
            links.append(f'<span class="off">{label}</span>')
    filtered = f" (of {page.fleet})" if page.matched != page.fleet else ""
    return (f'<nav class="pager" aria-label="pages"><span id="shown">{first}&ndash;{last} of '
            f'<b id="matched">{page.matched}</b>{filtered}, page {q.page} of {page.pages}'
            f'</span> {" ".join(links)}</nav>')


def _options(choices: Iterable[tuple[str, str]], selected: str) -> str:
    return "".join(f'<option value="{escape(value)}"{" selected" if value == selected else ""}>'
                   f"{escape(label)}</option>" for value, label in choices)


def _checked(on: bool) -> str:
    return " checked" if on else ""


def _clear(query: FleetQuery) -> str:
    return '' if query == FleetQuery(per_page=query.per_page) else '<a href="/">clear</a>'
