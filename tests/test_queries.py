from envision_spiders.queries import (
    BOOLEAN_WORDS,
    PHRASES,
    QUERY_STRING,
    SEARCH_TERMS,
    QuerySyntax,
    group_terms,
    pack_terms,
)
from envision_spiders.queries import QUERY_STRING as render_terms


def test_the_shared_set_has_about_47_distinct_terms():
    assert 40 <= len(SEARCH_TERMS) <= 60
    assert len({t.lower() for t in SEARCH_TERMS}) == len(SEARCH_TERMS)
    for must in ("fundus", "optical coherence tomography", "glaucoma", "diabetic retinopathy", "keratoconus"):
        assert must in SEARCH_TERMS


def test_packing_keeps_every_term_once_and_respects_the_limit():
    groups = pack_terms(SEARCH_TERMS, render_terms, 300)
    assert len(groups) > 1
    assert all(len(g) <= 300 for g in groups)
    joined = " OR ".join(groups)
    for term in SEARCH_TERMS:
        assert render_terms([term]) in joined


def test_packing_into_one_group_when_it_fits():
    assert pack_terms(["a b", "c"], render_terms, 10_000) == ['("a" AND "b") OR ("c")']


def test_an_oversized_term_still_gets_its_own_group():
    assert pack_terms(["x" * 50, "y"], render_terms, 10) == [render_terms(["x" * 50]), render_terms(["y"])]


def test_one_render_terms_writes_each_api_syntax():
    terms = ["fundus photography", 'say "cheese"']
    assert render_terms(terms) == '("fundus" AND "photography") OR ("say" AND "cheese")'
    assert PHRASES(terms) == '"fundus photography" OR "say cheese"'
    assert BOOLEAN_WORDS(terms) == "(fundus AND photography) OR (say AND cheese)"
    fielded = QuerySyntax(fields=("title", "subject"))(["glaucoma"])
    assert fielded == 'title:(("glaucoma")) OR subject:(("glaucoma"))'


def test_groups_fit_the_final_url_as_well_as_the_query_length():
    def url(terms):
        return "https://api.example.org/records?q=" + QUERY_STRING(terms).replace(" ", "%20") + "&size=25&page=400"

    groups = group_terms(SEARCH_TERMS, QUERY_STRING, 10_000, url, 600)
    assert len(groups) > 1
    assert [t for g in groups for t in g] == list(SEARCH_TERMS)
    assert all(len(url(g)) <= 600 for g in groups)
    # a lone term that cannot fit still gets its own group (the request is then dropped loudly)
    assert group_terms(["x" * 700, "y"], QUERY_STRING, 10_000, url, 600) == [["x" * 700], ["y"]]
