"""Query semantics the services impose: RePORTER's whole-word matching (singular/plural
variants) and Dryad's edismax (multi-word terms as quoted phrases)."""

from __future__ import annotations

from envision_spiders.queries import OTHER_NUMBER, SEARCH_TERMS, SOLR_PHRASES, number_variants, split_words

# Words of SEARCH_TERMS judged to have no other number in use (adjectives, mass nouns, methods,
# abbreviations). A new term's words must land here or in OTHER_NUMBER.
ONE_FORM = {
    "photography", "retinal", "imaging", "optical", "coherence", "tomography", "oct", "angiography", "octa",
    "fluorescein", "indocyanine", "green", "scanning", "laser", "ophthalmoscopy", "adaptive", "optics", "slit",
    "anterior", "corneal", "topography", "confocal", "microscopy", "specular", "meibography", "autofluorescence",
    "ultra-widefield", "ophthalmic", "ophthalmology", "segmentation", "optic", "diabetic", "glaucoma",
    "age-related", "macular", "degeneration", "edema", "prematurity", "of", "retinitis", "pigmentosa",
    "keratoconus", "uveitis", "myopia", "dry", "strabismus", "geographic", "atrophy", "papilledema", "ocular",
}


def test_every_word_of_the_shared_terms_has_its_number_forms_decided():
    forms = set(OTHER_NUMBER) | set(OTHER_NUMBER.values())
    undecided = {w.lower() for t in SEARCH_TERMS for w in split_words(t)} - forms - ONE_FORM
    assert undecided == set()


def test_number_variants_cover_each_word_in_both_numbers_once():
    assert number_variants(["retinal image"]) == ["retinal image", "retinal images"]
    assert number_variants(["eye image", "eyes images"]) == ["eye image", "eye images", "eyes image", "eyes images"]
    assert number_variants(["Cataract", "drusen"]) == ["Cataract", "cataracts", "drusen", "druse"]
    assert number_variants(["glaucoma"]) == ["glaucoma"]
    assert set(SEARCH_TERMS) <= set(number_variants(SEARCH_TERMS))


def test_solr_phrases_quote_terms_of_several_words_and_leave_plain_words_bare():
    assert SOLR_PHRASES(["fundus", "optical coherence tomography", "ultra-widefield", 'say "x"']) == (
        'fundus OR "optical coherence tomography" OR "ultra-widefield" OR "say x"')
