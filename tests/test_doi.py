import pytest

from envision_spiders.doi import find_dois, normalize_doi, strip_version_suffix


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("10.5281/zenodo.123", "10.5281/zenodo.123"),
        ("https://doi.org/10.5281/ZENODO.123", "10.5281/zenodo.123"),
        ("http://dx.doi.org/10.5061/dryad.abc12", "10.5061/dryad.abc12"),
        ("doi:10.6084/m9.figshare.5.v2", "10.6084/m9.figshare.5.v2"),
        ("  10.1000/xyz.  ", "10.1000/xyz"),
        ("10.5061%2Fdryad.abc", "10.5061/dryad.abc"),
        ("not a doi", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_doi(raw, expected):
    assert normalize_doi(raw) == expected


def test_figshare_version_suffix_is_stripped_only_at_the_end():
    assert strip_version_suffix("10.6084/m9.figshare.5.v12") == "10.6084/m9.figshare.5"
    assert strip_version_suffix("10.6084/m9.figshare.v5x") == "10.6084/m9.figshare.v5x"


def test_find_dois_in_text_in_order_without_repeats():
    text = "See https://doi.org/10.1000/A.1, also doi:10.1000/a.1 and (10.5281/zenodo.9)."
    assert find_dois(text) == ["10.1000/a.1", "10.5281/zenodo.9"]


def test_record_dois_are_the_doi_the_concept_and_the_alternates_normalised():
    from envision_spiders.doi import record_dois

    record = {"doi": "https://doi.org/10.6084/M9.FIGSHARE.7.v2", "version_of": None,
              "extra": {"alternate_dois": ["doi:10.1000/x"]}}
    assert record_dois(record) == ["10.1000/x", "10.6084/m9.figshare.7", "10.6084/m9.figshare.7.v2"]


@pytest.mark.parametrize(
    "raw",
    [
        "https://www.doi.org/10.5061/dryad.abc12",
        "http://dx.doi.org/10.5061/dryad.abc12",
        "https://dx.doi.org/10.5061/DRYAD.ABC12",
        "info:doi/10.5061/dryad.abc12",
        "urn:doi:10.5061/dryad.abc12",
        "doi.org/10.5061/dryad.abc12",
        "www.doi.org/10.5061/dryad.abc12",
        "DOI: 10.5061/dryad.abc12",
    ],
)
def test_every_common_spelling_of_a_doi_is_recognised(raw):
    assert normalize_doi(raw) == "10.5061/dryad.abc12"


def test_balanced_parentheses_inside_a_doi_are_kept():
    sici = "10.1002/(SICI)1097-4636(199711)37:2<282::AID-JBM17>3.0.CO;2-G"
    assert normalize_doi(sici) == sici.lower()
    assert normalize_doi("10.1002/(SICI)1521-4095(199801)") == "10.1002/(sici)1521-4095(199801)"
    assert normalize_doi("doi:10.1000/xyz).") == "10.1000/xyz"  # the unbalanced one is the sentence's
    assert find_dois("as in (10.1002/(SICI)1521-4095(199801)).") == ["10.1002/(sici)1521-4095(199801)"]


def test_figshare_version_rule_only_for_figshare_dois():
    from envision_spiders.doi import is_figshare_versioned, record_dois

    assert is_figshare_versioned("10.6084/m9.figshare.5.v2")
    assert not is_figshare_versioned("10.5281/zenodo.5.v2")
    assert record_dois({"source": "zenodo", "doi": "10.5281/zenodo.5.v2"}) == ["10.5281/zenodo.5.v2"]
    assert record_dois({"source": "datacite", "doi": "10.1234/thesis.v3"}) == ["10.1234/thesis.v3"]
    # a Figshare-for-institutions portal mints on its own prefix: the record's source says so
    assert record_dois({"source": "figshare", "doi": "10.25573/data.7.v3"}) == ["10.25573/data.7", "10.25573/data.7.v3"]
