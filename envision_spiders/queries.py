"""The shared ophthalmology search terms, and how to pack them into few API calls.

A term with several words means all of its words (AND), as in the seed pipeline; the
terms of one group are OR-ed. Each spider renders a group in its API's own syntax.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

SEARCH_TERMS: tuple[str, ...] = (
    # imaging modalities
    "fundus",
    "fundus photography",
    "retinal image",
    "retinal imaging",
    "optical coherence tomography",
    "OCT retina",
    "OCT angiography",
    "OCTA",
    "fluorescein angiography",
    "indocyanine green angiography",
    "scanning laser ophthalmoscopy",
    "adaptive optics retina",
    "slit lamp",
    "anterior segment",
    "corneal topography",
    "corneal confocal microscopy",
    "specular microscopy cornea",
    "meibography",
    "fundus autofluorescence",
    "ultra-widefield",
    "ophthalmic imaging",
    "ophthalmology dataset",
    "eye image",
    "retina",
    "retinal vessel segmentation",
    "optic disc",
    "macula",
    "choroid",
    "cornea",
    # diseases
    "diabetic retinopathy",
    "glaucoma",
    "age-related macular degeneration",
    "macular edema",
    "retinopathy of prematurity",
    "retinal detachment",
    "retinitis pigmentosa",
    "keratoconus",
    "cataract",
    "uveitis",
    "myopia",
    "dry eye",
    "strabismus",
    "drusen",
    "geographic atrophy",
    "papilledema",
    "retinal vein occlusion",
    "ocular surface",
)


def split_words(term: str) -> list[str]:
    return [w for w in term.split() if w]


def pack_terms(
    terms: Iterable[str],
    render: Callable[[list[str]], str],
    max_length: int,
) -> list[str]:
    """Greedily pack terms into as few OR-groups as fit ``max_length`` once rendered.

    ``render`` turns a list of terms into the API's query string. A single term longer than
    ``max_length`` still gets a group of its own (the API will say if it is too long).
    """
    groups: list[str] = []
    current: list[str] = []
    for term in terms:
        candidate = current + [term]
        if current and len(render(candidate)) > max_length:
            groups.append(render(current))
            current = [term]
        else:
            current = candidate
    if current:
        groups.append(render(current))
    return groups
