"""One rule for the sides named in image file names: is a ``left`` / ``R`` / ``OD`` an eye's side?

Ophthalmic datasets name each image after its eye (``OD_0001.jpg``, ``P0041_OS.png``,
``10_left.jpeg``, ``case01_R.jpg``, ``RE_017.jpg``, ``left_eye_3.tif``), but paws, hands, ears,
breasts, kidneys and leaves have sides too. :func:`eye_side_flags` decides, for the file names of
one record (and the record's own words), which names say an eye's side. Pure: no I/O, no state.

The rule, per name (split into tokens at separators and letter/digit boundaries):

* a side token next to another side-having organ in the same name (``rat_017_left_paw.jpg``,
  ``P_00001_LEFT_CC.dcm``) is never an eye side;
* ``OD`` naming an optical density (``OD600``, ``OD_0.2``) is never an eye side;
* ``OD`` / ``OS`` / ``OU`` and a side next to an eye word (``left_eye``, ``R_fundus``,
  ``OD-macula``) are eye sides;
* the weaker forms count only when the record names no other side-having organ (and the caller
  did not find one elsewhere, ``other_site``): ``left`` / ``right`` / ``RE`` / ``LE`` next to a
  number (``10_left``, ``RE_017``), and any side token -- single letters ``R`` / ``L`` included --
  in a *paired* pattern, the same stem present with both sides (``case01_R`` + ``case01_L``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_TOKEN_RE = re.compile(r"[a-z]+|\d+")
# the side tokens and their opposite (a paired pattern has both with the same stem)
_OPPOSITE = {"left": "right", "right": "left", "l": "r", "r": "l", "le": "re", "re": "le", "od": "os", "os": "od",
             # (German, Spanish, French, Portuguese, Italian)
             "rechts": "links", "links": "rechts", "derecho": "izquierdo", "izquierdo": "derecho",
             "droit": "gauche", "gauche": "droit", "direito": "esquerdo", "esquerdo": "direito",
             "destro": "sinistro", "sinistro": "destro",
             # (Italian clinics' abbreviations; weak: they count only in pairs or next to a number)
             "dx": "sx", "sx": "dx"}
_STRONG = frozenset({"od", "os", "ou"})
_SIDE_WORDS = frozenset({"left", "right", "re", "le", *list(_OPPOSITE)[8:]})
_EYE_WORDS = frozenset({
    "eye", "eyes", "fundus", "retina", "retinal", "macula", "macular", "disc", "oct", "octa", "cfp", "faf", "slo",
    "cornea", "corneal", "iris", "ocular", "optic", "onh", "fovea", "bscan", "enface", "angio", "topo", "pentacam",
    "uwf",
    # the eye in the languages file names are often written in (German, Spanish, French, Portuguese, Italian, Dutch)
    "auge", "augen", "ojo", "ojos", "oeil", "yeux", "olho", "olhos", "occhio", "occhi", "oog", "ogen", "makula",
})
# organs (and mammography views) that have sides of their own
_ORGAN_WORDS = frozenset({
    "paw", "paws", "forepaw", "hindpaw", "hand", "hands", "finger", "thumb", "foot", "feet", "toe", "heel", "ear", "ears",
    "eardrum", "tympanic", "breast", "breasts", "cc", "mlo", "kidney", "kidneys", "lung", "lungs", "hemisphere", "lobe",
    "leaf", "leaves", "wing", "wings", "limb", "limbs", "arm", "arms", "leg", "legs", "knee", "knees", "hip", "hips",
    "shoulder", "elbow", "wrist", "ankle", "femur", "tibia", "ovary", "testis", "adrenal", "carotid", "ventricle",
    "atrium", "lateral", "hippocampus", "cochlea", "tonsil", "jaw", "mandible", "cheek", "flank", "side",
    # limbs of animals (``dog01_left_fore_pad``) and the quadrants of a mouth (``upper_left``, ``occlusal``)
    "fore", "hind", "forelimb", "hindlimb", "pad", "pads", "upper", "lower", "frontal", "occlusal", "buccal",
    "molar", "molars", "incisor", "incisors",
    # culture plates and wells: ``OD`` is their optical density
    "plate", "plates", "well", "wells", "culture", "cultures",
    # fingers (``001_L_index``), the eardrum (``left_TM``), brain regions and hemispheres
    # (``L_CA1``, ``Lhem``), a body's flank (``lado_izquierdo``, ``flanc_gauche``)
    "index", "middle", "ring", "pinky", "tm", "ca", "hem", "flanc", "flanco", "lado", "seite", "cote",
    "pectoral", "blatt", "eyebrow", "brow",
    # gills (``fish01_L_gill``), hands and legs in Czech (``prava_ruka``)
    "gill", "gills", "ruka", "ruky", "ruce", "noha", "nohy",
    # paws in Spanish and Portuguese (``perro03_ant_izq`` under ``patas/``)
    "pata", "patas",
})
# an object photographed from several views (``left.tif``, ``top.tif``, ``obj_01_front``) or by a
# stereo rig (``left/000001.png``, ``right/000001.png``): its left and right are not an eye's
_VIEW_WORDS = frozenset({"top", "bottom", "front", "back", "rear", "dorsal", "ventral", "stereo", "calib", "calibration"})
_SLIDE_SUFFIXES = (".svs", ".ndpi", ".mrxs", ".scn")
# the side tokens of the clinic's two-eye pairs (clinical_eye_pair)
_PAIR_SIDES = frozenset({"od", "os", "oe", "oi", "og", "re", "le"})
# ``OD600``, ``OD_0.2``, ``OD_readings``: an optical density (at a wavelength, or a value), not an oculus dexter
_OPTICAL_DENSITY_RE = re.compile(r"(?<![a-z])od(?:[2-9]\d\d(?!\d)|[ _-]?\d+[.,]\d|[ _-]?readings?)")
# the record's own words naming a side-having organ (plurals or unambiguous forms only: "on the
# other hand" and a trial's "arm" are not organs)
_CONTEXT_ORGAN_RE = re.compile(
    r"\b(paws?|forepaws?|hindpaws?|hands|fingers|feet|foot|ears|eardrums?|tympanic|middle ear|breasts?|mammogra\w*|"
    r"kidneys?|lungs?|hemispheres?|leaf|leaves|wings?|limbs?|knees?|hips?|wrists?|ankles?|shoulders?|ovar(y|ies)|"
    r"carotids?|cochlea\w*|hippocamp\w*|gills?|stereo\w*|calibration)\b"
)


def name_tokens(name: str) -> list[str]:
    """``case01_R.jpg`` -> ``['case', '01', 'r']``: lower case, split at separators and at
    letter/digit boundaries, the extension dropped."""
    base = name.lower()
    if "." in base.rsplit("/", 1)[-1]:
        base = base.rsplit(".", 1)[0]
    return _TOKEN_RE.findall(base)


def names_other_organ(text: str) -> bool:
    """Whether the record's own words name a side-having organ other than the eye."""
    return bool(_CONTEXT_ORGAN_RE.search(text.lower()))


def eye_side_flags(names: Sequence[str], text: str = "", other_site: bool = False) -> list[bool]:
    """For each file name, whether it names an eye's side (see the module docstring for the rule).

    ``text``: the record's own words; ``other_site``: the caller knows the record images another
    organ (non-eye DICOM headers, non-eye file names): both block the weaker forms."""
    tokenised = [[] if _OPTICAL_DENSITY_RE.search(n.lower()) else _slide_unless_eye(n, name_tokens(n)) for n in names]
    stems: set[tuple[str, ...]] = set()
    for tokens in tokenised:
        for i, token in enumerate(tokens):
            if token in _OPPOSITE:
                stems.add((*tokens[:i], token, *tokens[i + 1 :]))
    if not stems and not any(t in _STRONG for tokens in tokenised for t in tokens):
        return [False] * len(tokenised)  # no side named at all: skip reading the record's words
    weak_allowed = (not other_site and not names_other_organ(text)
                    and not any(t in _VIEW_WORDS for tokens in tokenised for t in tokens))
    return [_names_eye_side(tokens, stems, weak_allowed) for tokens in tokenised]


def _slide_unless_eye(name: str, tokens: list[str]) -> list[str]:
    # a pathology scanner's whole slide (``OS3_0001_HE.svs``: site OS3) names an eye's side only
    # next to an eye word (``eye_left_HE.svs``)
    if name.lower().endswith(_SLIDE_SUFFIXES) and not any(t in _EYE_WORDS for t in tokens):
        return []
    return tokens


def clinical_eye_pair(names: Sequence[str], flags: Sequence[bool]) -> bool:
    """Whether the names use a clinic's notation for two eyes: ``OD`` and ``OS`` among the names
    flagged as eye sides, or one stem present with ``OD`` and the left eye of another language
    (``OE`` Portuguese, ``OI`` Spanish, ``OG`` French), or with ``RE`` and ``LE``. Where ``left`` /
    ``R`` / a lone ``OD`` (``OD600``) or ``OS`` are not, these pairs are written only for eyes."""
    seen: set[str] = set()
    stems: dict[str, set[tuple[str, ...]]] = {}
    for name, flag in zip(names, flags):
        tokens = name_tokens(name)
        if flag:
            seen.update(t for t in tokens if t in ("od", "os"))
        for i, token in enumerate(tokens):
            if token in _PAIR_SIDES:
                stems.setdefault(token, set()).add((*tokens[:i], *tokens[i + 1 :]))
    if len(seen) == 2:
        return True
    right_eye = stems.get("od", set())
    if any(right_eye & stems.get(left, set()) for left in ("oe", "oi", "og")):
        return True
    return bool(stems.get("re", set()) & stems.get("le", set()))


def count_eye_sides(names: Iterable[str], text: str = "", other_site: bool = False) -> int:
    """How many of ``names`` name an eye's side."""
    return sum(eye_side_flags(list(names), text, other_site))


def _names_eye_side(tokens: list[str], stems: set[tuple[str, ...]], weak_allowed: bool) -> bool:
    if any(t in _ORGAN_WORDS for t in tokens):
        return False
    for i, token in enumerate(tokens):
        if token not in _OPPOSITE and token not in _STRONG:
            continue
        neighbours = tokens[max(i - 1, 0) : i] + tokens[i + 1 : i + 2]
        if token in _STRONG or any(n in _EYE_WORDS for n in neighbours):
            return True
        if not weak_allowed:
            continue
        if token in _SIDE_WORDS and any(n.isdigit() for n in neighbours):
            return True
        paired = (*tokens[:i], _OPPOSITE[token], *tokens[i + 1 :])
        if paired in stems:
            return True
    return False
