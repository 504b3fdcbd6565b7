"""Explicit evidence features that sit beside the sentence embedding in the head.

Two families, both cheap (regular expressions and counting):

* lexicon groups over the full text (the encoder only sees the first tokens): eye anatomy,
  eye-imaging modalities, and the signals of the hard negatives -- visual function tests,
  questionnaires, eye tracking, genomics, electrophysiology, software, trained models,
  non-eye imaging and the "iris flower" kind of trap;
* file evidence: image / DICOM / video / code / model-weight / table / genomics file counts,
  what archive inspection found inside archives, DICOM modalities, and eye words in file names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envision_spiders.classifier.dataset_names import EYE, OTHER, known_dataset_kinds
from envision_spiders.classifier.image_evidence import OCT, OCTA, RADIOGRAPH, TILE, class_folder_counts, geometry_shares
from envision_spiders.classifier.sides import clinical_eye_pair, eye_side_flags
from envision_spiders.classifier.text import (
    ARCHIVE_EXTENSIONS,
    CODE_EXTENSIONS,
    DOCUMENT_EXTENSIONS,
    EYE_DEVICE_EXTENSIONS,
    GENOMICS_EXTENSIONS,
    IMAGE_EXTENSIONS,
    MEDICAL_EXTENSIONS,
    MICROSCOPY_EXTENSIONS,
    MODEL_EXTENSIONS,
    PATHOLOGY_EXTENSIONS,
    TABLE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    archive_extension_counts,
    archive_images_of,
    extension,
    file_names_of,
    keywords_of,
    lexical_text,
    names_text,
    strip_html,
)
from envision_spiders.items import EYE_EVIDENCE

_LEXICON: dict[str, str] = {
    "eye_anatomy": r"retina\w*|fund(us|i)\b|macula\w*|fovea\w*|optic (disc|disk|nerve)|cornea\w*|choroid\w*|"
    r"sclera\w*|conjunctiv\w*|vitreous|photoreceptor\w*|\brpe\b|ophthalm\w*|ocular|\beyes?\b|eyelid\w*|"
    r"glaucoma\w*|diabetic retinopathy|macular degeneration|\bamd\b|keratoconus|myopi\w*|cataract\w*|uveitis|"
    r"drusen|retinopathy|papill\w*|trabecular|lens opacit\w*|keratitis|pterygium|anterior chamber|"
    r"angle[- ]closure|vitreoretina\w*|intravitreal|kerato\w*|strabism\w*|amblyop\w*|uvea\w*|chorioretin\w*|"
    r"ommatidi\w*|compound eyes?\b(?! of)|subbasal nerve",
    "eye_imaging_modality": r"fundus (photo\w*|image\w*|camera\w*|picture\w*|autofluorescence)|\boct\b|\bocta\b|"
    r"\boct-a\b|optical coherence tomograph\w*|angiogra\w*|fluorescein|indocyanine|\bicga?\b|\bslo\b|"
    r"scanning laser ophthalmoscop\w*|adaptive optics|slit[- ]?lamp|anterior segment|corneal topograph\w*|"
    r"pentacam|confocal (scanning )?microscop\w*|specular microscop\w*|retinograph\w*|retinal (image|photo|scan)\w*|"
    r"fundoscop\w*|ophthalmoscop\w*|b-scans?|en face|widefield|wide-field|optos|spectralis|topcon|cirrus|"
    r"swept[- ]source|spectral[- ]domain|optoretinogra\w*|meibograph\w*|retcam|\buwf\b|ultra-?widefield|color fundus|colour fundus|\bcfp\b|\bfaf\b|\bsd-oct\b|\bss-oct\b|retinal camera|"
    r"eye (image|photo)\w*|ocular (image|photo|surface image)\w*|gonioscop\w*|biomicroscop\w*|"
    r"cataract surg\w* video\w*|vitreoretinal surg\w* video\w*|ophthalmic surg\w* video\w*|eye surg\w* video\w*|phacoemulsification",
    "image_words": r"\bimages?\b|imaging|photograph\w*|\bphotos?\b|\bscans?\b|\bscanned\b|volumes?\b|videos?\b|frames?\b|"
    r"segmentation|annotat\w*|\bmasks?\b|pixel\w*|resolution|\bdicom\b|\bpng\b|\bjpe?g\b|\btiff?\b|microscop\w*|camera",
    "dataset_words": r"dataset|data set|database|\bcollection\b|benchmark|images were (acquired|collected|captured)|"
    r"training set|test set|challenge",
    "neg_visual_function": r"visual fields?|perimetr\w*|humphrey|visual acuit\w*|contrast sensitivit\w*|\betdrs letters?\b|"
    r"logmar|refracti\w*|intraocular pressure|tonometr\w*|\biop\b|stereo ?acuity|colou?r vision|psychophysic\w*|"
    r"reading speed|dark adaptation|microperimetr\w*|"
    # the eye's measurements as values (a biometer's, a keratometer's): numbers, not images
    r"keratometr\w*|\bk-?values?\b|axial lengths?|ocular biometr\w*",
    "neg_questionnaire": r"questionnaire\w*|survey\w*|interview\w*|quality of life|vfq|patient[- ]reported|likert|"
    r"respondents?|focus groups?|qualitative",
    "neg_eye_tracking": r"eye[- ]?track\w*|gaze|fixations?\b|saccad\w*|eye movements?|pupil\w*|tobii|eyelink|blink\w*|"
    r"smooth pursuit|vergence|oculomotor|nystagmus",
    "neg_genomics": r"\bgenes?\b|genom\w*|\bgwas\b|\bsnps?\b|sequencing|rna-?seq|scrna|transcriptom\w*|exome|"
    r"\bvariants?\b|gene expression|methylation|proteom\w*|metabolom\w*|single[- ]cell|\bfastq\b|\bvcf\b|"
    r"genotyp\w*|allele\w*|mutation\w*|\bmirna\b|chip-seq|atac",
    "neg_electrophys": r"\berg\b|electroretinogra\w*|\bvep\b|evoked potential\w*|\beeg\b|electrophysiolog\w*|"
    r"patch[- ]clamp|spike\w*|multi-?electrode|\bmea\b|recordings?\b|action potential\w*|\bmeg\b",
    "neg_clinical": r"clinical trial|(patient|medical|health|clinical|electronic) records|chart review|randomi[sz]ed|case report form|spreadsheet|tabular|\bcsv\b|statistical analys\w*|"
    r"demographic\w*|outcome measures?|supplementary table\w*|\bspss\b|regression|cohort|prevalence|incidence|"
    r"epidemiolog\w*|cost-effective\w*|meta-analys\w*|systematic review",
    "neg_software": r"software|source code|\bcode\b|toolbox|\bpackage\b|librar(y|ies)|implementation|github|"
    r"\bplugin\b|\bapp\b|\bapi\b|python|matlab|scripts?\b|\bgui\b|web application|open-source tool",
    "neg_model": r"pre-?trained|trained models?|model weights|\bweights\b|checkpoints?|\bonnx\b|\.pth\b|\.h5\b|"
    r"neural network weights|model files?",
    "non_eye_imaging": r"chest|x-?rays?|radiograph\w*|\bct\b|computed tomograph\w*|\bmri\b|magnetic resonance|\bbrain\b|"
    r"lungs?\b|dermoscop\w*|skin lesion\w*|melanoma|histopatholog\w*|whole[- ]slide|mammogra\w*|echocardiogra\w*|"
    r"endoscop\w*|colonoscop\w*|dental|teeth|knee|liver|kidney|prostate|breast|\bpet\b|cardiac|ultrasound|"
    r"pathology slides?|covid|pneumonia|tumou?r|lumbar|vertebra\w*|intervertebral|spinal|osteoarthr\w*|"
    r"gastroscop\w*|upper gi\b|visual cortex|\bcxr\w*|radiograf\w*",
    "trap": r"iris (flower|setosa|versicolou?r|virginica|species|plant)|setosa|fisher'?s iris|fish-?eye|moth[- ]?eye|"
    r"eye of the (storm|hurricane)|bird'?s[- ]eye|eye-catching|private eye|compound eyes? of|evil eye|"
    r"naked eye|eye ?wall|potato eye|potato(es)?\b|\btubers?\b|hurricanes?\b|typhoons?\b|tropical cyclones?|"
    r"needle'?s? eyes?|eyes? of (a|the) needle|"
    # a known data set's name taken by something else ("DRIVE-Sim": a driving simulator's logs)
    r"dash[- ]?cam\w*|driving simulat\w*|\bsimulator logs?|\bvehicles?\b|\broads?\b|\btraffic\b|"
    # a screen's marketing name, an object detector's
    r"retina[- ](display|screen|hud)s?\b|head-?up display|\bhud\b|retinanet|retinaface",
    "grant_words": r"\bgrant\b|project summary|project narrative|provided by applicant|\baward\b|specific aims?|\baims?\b|we propose|\br01\b|\bu01\b|\bk23\b|\bp30\b|"
    r"this proposal|funding|principal investigator|hypothesis|project period",
    "animal": r"\bmouse\b|\bmice\b|\brats?\b|zebrafish|primate\w*|macaque\w*|rabbits?|\bdogs?\b|canine|animal\w*|"
    r"porcine|murine|drosophila|\bpigs?\b|non-human",
    "neg_publication": r"review|systematic review|meta-analys\w*|perspective|editorial|commentary|book chapter|"
    r"lecture\w*|slides|tutorial|overview|preprint|conference abstract|poster|case reports?|report of (a|one|two|three|\d+) cases?",
    "neg_molecular": r"lipidom\w*|molecular|western blot\w*|qpcr|rt-pcr|elisa|mass spectrometr\w*|hplc|cytokine\w*|"
    r"biochemi\w*|enzym\w*|assays?\b|flow cytometr\w*|knockout|pharmacokinetic\w*|drug release",
    "no_images": r"no images|does not (contain|include) (any )?images|images (are|were) not (included|shared|provided)|"
    r"code only|without (the )?(image )?data|data not included|available (up)?on request",
}


def _split_alternatives(pattern: str) -> list[str]:
    """Top-level alternatives of a regular expression (``a|(b|c)d`` -> ``a``, ``(b|c)d``)."""
    parts, depth, current, i = [], 0, "", 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            current += pattern[i : i + 2]
            i += 2
            continue
        depth += (char == "(") - (char == ")")
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    parts.append(current)
    return parts


# Every term must start a word. The leading ``\b`` is checked in Python on the (few) matches
# instead of in the pattern: an alternation whose branches all start with a literal lets the
# regex engine jump straight to candidate characters (1.6x faster than a leading ``\b``, 4x
# faster than ``\b`` inside every branch, on 1,000-character descriptions).
_LEXICON_RE = {
    name: re.compile("|".join(a[2:] if a.startswith("\\b") else a for a in _split_alternatives(pattern)))
    for name, pattern in _LEXICON.items()
}


def _count_words(regex: re.Pattern[str], text: str, limit: int = 4) -> int:
    """Matches that start a word, counted up to ``limit`` (the features cap the counts there)."""
    n = 0
    for match in regex.finditer(text):
        start = match.start()
        if start == 0 or not text[start].isalnum() or not (text[start - 1].isalnum() or text[start - 1] == "_"):
            n += 1
            if n >= limit:
                break
    return n


_EYE_NAME_RE = re.compile(
    r"fundus|\boct\b|octa|oct\d|retina\w*|cornea\w*|\beyes?\b|drusen|glaucoma|macula\w*|"
    r"optic disc|\bamd\b|\bdme\b|\bcnv\b|\bpcv\b|\bn?pdr\b|b-?scan|bscan|fovea|refuge|messidor|eyepacs|idrid|aptos|"
    r"\bfaf\b|\bslo\b|ophthal\w*|ocular|"
    # (per-eye naming -- OD_0001.jpg, 10_left.jpeg, case01_R.jpg -- is read by sides.eye_side_flags)
    r"choroid\w*|cataract|kerat\w*|"
    r"flat-?mount|photoreceptor|\brpe\b|\be2e\b|spectralis|topcon|optos|\bicga\b|"
    # the eye, the fundus and the retina in other languages (Auge_rechts, ojo_derecho, oeil_droit,
    # 眼底照片, 左眼, zuoyan, sağ_göz, öga_vänster, 우안) -- file names keep the language of the lab
    # that wrote them
    r"\baugen?\b|netzhaut|\bmakula|\bojos?\b|fondo de ojo|\boeil\b|\bœil\b|\byeux\b|r[ée]tine\b|"
    r"\bolhos?\b|\bocchi[o]?\b|\boog\b|[左右][眼目]|眼|网膜|網膜|zuoyan|youyan|안저|망막|"
    r"\bgöz\w*|\böga\b|\bögon\b|\bøye\b|\bøyne\b|\bøje\b|\bøjne\b|\boko\b|\boczy\b|\boči\b|глаз\w*|сетчатк\w*|"
    r"μάτι|οφθαλμ\w*|چشم|우안|좌안|안구|आँख|आंख|"
    # the eye and its side written as one word or in Latin or romanised Japanese (OjoDerecho,
    # rechtesAuge, linkeroog, occhio_dx, oculus_dexter, migime / hidarime)
    r"ojo ?(?:derecho|izquierdo)|olho ?(?:direito|esquerdo)|occhio ?(?:destro|sinistro|dx|sx)|"
    r"(?:rechte|linke)[snr]? ?auge|(?:rechter|linker|rechts|links) ?oog|\boculus ?(?:dexter|sinister|uterque)|"
    r"(?<![a-z])(?:migi|hidari) ?me(?![a-z])|"
    # devices named in their exports (a CenterVue fundus camera, a Tomey anterior-segment OCT)
    r"\beidon\b|casia2|\bas-?oct\b|slit-?lamp|"
    # an eye's side glued to the word (zf_01_eyeL), red-reflex and meibography captures
    r"\beye[lr]\b|\b(?:left|right|[lr])eye\b|red ?reflex|meibo\w*|"
    # retinopathy of prematurity graded by zone (ROP_0012_zoneI)
    r"\brop\b(?: \w+)? zone|"
    # the eye and its side in Vietnamese (mat_trai, mat_phai); iris captures in the CASIA naming
    # (S1001L01: subject, eye, shot); fluorescein angiography frames named by time after injection
    # (FA_P01_R_0m32s); Messidor's fundus photographs (20051217_61659_0100_PP.tif); a retina
    # flat-mount cut into petals (WT_ret1_petal2)
    r"\bmat (?:trai|phai)\b|\bs\d{4}[lr]\d{2}\b|\bfa\b(?: \w+){0,3} \d{1,2}m\d{2}s\b|\b\d{8} \d{5} 0[12]00 pp\b|"
    r"\bret\d* petal|"
    # ultra-widefield fundus exports (…_R_UWF.tif), the cornea's subbasal nerve plexus at confocal
    # microscopy, an insect's compound eye by its facets, a head-mounted eye camera's video (eye0.mp4)
    r"\buwf\b|subbasal|ommatidi\w*|\beye\d\b"
)
# a perimeter's test patterns and programs, and visual fields named as such
_PERIMETRY_NAME_RE = re.compile(
    r"(?<![\d.-])(?:24|30|10)-2(?!\d|\.\d)|(?<![\d.-])60-4(?!\d|\.\d)|\bsita\b|humphrey|\bhfa\b|perimetr\w*|"
    r"visual.?fields?|\bvf\b|gesichtsfeld\w*|campo visual|champ visuel"
)
_NOT_IMAGE_EXTENSIONS = TABLE_EXTENSIONS | GENOMICS_EXTENSIONS | CODE_EXTENSIONS | DOCUMENT_EXTENSIONS | MODEL_EXTENSIONS
# words that name eye things in eye datasets and other things elsewhere (intervertebral discs,
# coronary angiograms, iris biometrics, pine cones, vascular endothelium, drive-thru queues):
# eye names only next to other eye evidence (an eye name, eye anatomy in the text, OCT / OCTA
# image sizes) and when nothing in the record names another organ
_WEAK_EYE_NAME_RE = re.compile(
    r"slit|angio\w*|\bdr\b|\bdrive\b|stare|chase|iris|endotheli\w*|\bcones?\b|disc|superficial|\bicg\b"
)
_NON_EYE_NAME_RE = re.compile(
    r"x-?ray|chest|\bmri\b|brain|\bct\b|skin|histo\w*|lung|mammo\w*|covid|pneumonia|tumou?r|"
    r"knee|colon|tcga|slide|isic|dermo\w*|t1w|t2w|flair|brats|abdom\w*|sentinel|leaf|plant|liver|kidney|\bct\d|"
    r"spine|spinal|lumbar|vertebr\w*|coronar\w*|cardiac|\bheart\b|dental|teeth|tooth|wound|ulcer|hela\b|"
    # images shown to subjects (stimuli of physiology and psychology experiments)
    r"stimul\w*|\bfaces?\b|natural scenes?|"
    # BIDS neuroimaging names (sub-01_ses-01_bold.nii.gz)
    r"\bbold\b|\bdwi\b|\bsub-\d+ ses-|"
    # other body parts photographed or scanned by side, also in the languages the eye words are
    # read in (Niere_links, pie_izquierdo, tiroides/lobulo_derecho, L_palm, pec_fin_L, otolith_R):
    # their left and right are not an eye's
    r"niere\w*|\bnier\b|ri[ñn][oó]n\w*|\bpies?\b|\bpied\b|\bfu(?:ss|ß)\b|\bvoet\b|\bfeet\b|\bfoot\b|\bpatas?\b|pfote|"
    r"\bpaws?\b|\bhands?\b|\bmanos?\b|\bpalms?\b|forearm|\blegs?\b|pierna|\bbein\b|thyroid|tiroides|tireoide|"
    r"schilddr\w*|pulm[oó]n\w*|\blunge\b|poumon|\bears?\b|oreja|orelha|\bohr\b|oreille|otolith\w*|otoscop\w*|"
    r"\bfins?\b|\bwings?\b|\bhoo(?:f|ves)\b|shoulder|elbow|wrist|ankle|\bknie\b|rodilla|\bgenou\b|mama\b|breast|"
    r"\bkulak\w*|whisker\w*|"
    # dental panoramics, tongues, muzzles, eardrums; and the eyes of storms, tubers and needles
    r"\bpano\b|panoram\w*|orthopantomo\w*|\bopg\b|파노라마|舌|tongue|muzzle|focinho\w*|tympan\w*|"
    r"hurricane|typhoon|cyclone|best.?track|\btubers?\b|potato\w*|needle\w*|"
    # assays photographed or scanned (western blots of retina lysate): not images of the eye
    r"\bblots?\b|western|lysate\w*|\bgels?\b|"
    # the stomach's fundus, the inner ear's macula, faces, leaves (Blatt) and fins by side
    r"\bugi\b|gastr\w*|stomach|antrum|pylor\w*|duoden\w*|o?esophag\w*|utricle\w*|saccul\w*|cochlea\w*|"
    r"eyebrow\w*|smil(?:e|ing)\w*|frown\w*|facial|\bblatt\w*|bl[äa]tter|pectoral|"
    # fish gills, hands in Czech (prava_ruka), the cervix at colposcopy, iris flowers by species,
    # a stereo camera's calibration
    r"\bgills?\b|\bruk[ayu]\b|\bruce\b|colpo\w*|cervi[xc]\w*|acetic|setosa|versicolou?r|virginica|"
    r"\bstereo\w*|\bcalib\w*|"
    # radiographs in Portuguese and Spanish, chest X-ray sets (CXR8)
    r"radiograf\w*|\bcxr\w*|"
    # the middle ear at otoscopy (AOM: acute otitis media; AD/AS: the ENT's right and left ear)
    r"otitis|\baom\b|\bome\b"
)
# eye word stems inside a slug or an acronym-like title ("fundusimage1000", "retinaoct-v2"), where
# the lexicon's word boundaries do not hold
_TITLE_EYE_STEM_RE = re.compile(
    r"fundus|retin|macul|glaucom|cornea|ophthal|ocular|drusen|keratocon|uveit|cataract|choroid|(?<![a-z])oct|(?<![a-z])eye|"
    r"aptos|eyepacs|messidor|idrid"
)
# DICOM modalities of radiology and cardiology, never of the eye
_RADIOLOGY_MODALITIES = frozenset({"CT", "MR", "CR", "DX", "MG", "US", "PT", "NM", "XA", "RF", "IVOCT", "IVUS", "RG", "IO", "PX"})
# OCT is used on many organs and materials: OCT next to a non-eye site is not eye imaging,
# even when the text also names an eye (the compound eye of krill, an eye clinic's skin study)
_NON_EYE_SITE_RE = re.compile(
    r"\bskin\b|dermat\w*|coronar\w*|intravascular|arter(y|ies|ial)|oesophag\w*|esophag\w*|dental|enamel|\bteeth\b|"
    r"\btooth\b|tympanic|middle ear|eardrum|\boral\b|mucosa\w*|breast|bladder|colon\w*|painting|artwork|paint layer|"
    r"ceramic|glaze|porcelain|\bscars?\b|\bburns?\b|plant|leaves|\bleaf\b|cochlea\w*|fingerprint|tumou?r margin|"
    r"zebrafish (larva\w* )?heart|embryo\w*|\bkrill\b|insect|vocal fold|airway|cervix|cervical|"
    r"cartilage|tendon|fingernail|\bnails?\b|ovar(y|ies|ian)|uter(us|ine)|fallopian|laryn\w*|gastr\w*|stomach|"
    r"intestin\w*|rectal|rectum|\bwounds?\b|lymph nodes?|thyroid|spinal cord|brain (slices?|tissue)|mouse brain|"
    r"cerebral cortex|\bfruits?\b|\bwood\b|polymer|semiconductor|tablet coating|pharmaceutical tablet"
)
# "OCT" is also the optimal-cutting-temperature compound tissue is frozen in: retina sections
# "embedded in OCT" are histology or omics, not OCT imaging
_OCT_COMPOUND_RE = re.compile(
    r"(embedded|embedding|mounted|frozen|cryo-?protected)( \w+){0,2} in (tissue-?tek )?o\.?c\.?t\b\.?( compound| medium)?|"
    r"(?<![a-z])(tissue-?tek )?o\.?c\.?t\.?( embedding)? (compound|medium)|optimal cutting temperature( compound| medium)?|tissue-?tek( o\.?c\.?t\b\.?)?"
)
# what a publication looks like from its title (reviews, case reports, patents, slides, theses...)
_PUBLICATION_TITLE_RE = re.compile(
    r"\breview\b|meta-analys\w*|case reports?|report of (a|one|two|three|\d+) cases?|\bpatent\b|"
    r"(method|system|apparatus|device)s? (and|for) (method|system|apparatus|device|\w+ing)|^(poster|slides|thesis|figure|"
    r"lecture|tutorial|protocol)\b|\b(poster|slides|thesis|lecture|tutorial|editorial|commentary|perspective|"
    r"study protocol|preprint)\b|supplementary (material|information|methods|file|tables?|figures?)|"
    r"^(fig(ure)?\.? ?\d|table \d)|what .* needs? to know|a (narrative|systematic|scoping) review"
)
# publication-like resource types: Zenodo resource_type (type or title), DataCite
# resourceTypeGeneral / resourceType, Figshare defined_type
_PUBLICATION_TYPES = frozenset({
    "publication", "text", "journalarticle", "journal article", "article", "preprint", "poster", "presentation",
    "lesson", "thesis", "dissertation", "journal contribution", "conference contribution", "conferencepaper",
    "conference paper", "conferenceproceeding", "book", "book chapter", "bookchapter", "chapter", "report",
    "patent", "peer review", "peerreview", "educational resource", "standard", "data management plan",
    "datapaper", "monograph", "studyregistration", "outputmanagementplan", "other",
})
# a single figure (Figshare "figure", Zenodo image subtype "Figure"); Zenodo "image" records may be image datasets
_FIGURE_TYPES = frozenset({"figure"})
_ACCESSION_TITLE_RE = re.compile(r"^[a-z]{1,6}[-_ ]?[a-z]{0,5}[-_ ]?\d{2,}([-_. ]?v?\d+)?$")
# OCT is also used on kidneys, skin, teeth, colon, ceramics...: OCT counts as eye evidence
# only next to eye anatomy; and a "Data from: <clinical eye study>" record (Dryad style) is
# usually the study's images even when the text never says so
_OCT_RE = re.compile(r"\boct\b|optical coherence|\bsd-oct\b|\bss-oct\b|\bpt-oct\b")
_OCTA_RE = re.compile(r"\bocta\b|\boct-a\b|oct angiogra|coherence tomography angiogra")
_DATA_FROM_RE = re.compile(r"^\s*(data( and code)? from|data sheet|dataset( for| from)|supplementary|supporting (data|information))\b")
_REPO_TITLE_RE = re.compile(r"^[\w.-]+/[\w.-]+(:|\s|$)")
# (IVOCT is intravascular OCT, of coronary arteries: not an eye modality)
# ophthalmic DICOM that holds measurements, not images (the standard's defined terms): visual
# fields, axial lengths, keratometry, lensometry, refraction, visual acuity, lens calculation
_EYE_MEASUREMENT_MODALITIES = frozenset({"OPV", "OAM", "KER", "LEN", "SRF", "AR", "VA", "IOL"})
_EYE_MODALITIES = frozenset({"OP", "OPT", "OPM", "OPTBSV", "OPTENF", "SC"}) | _EYE_MEASUREMENT_MODALITIES
# modalities that say nothing of the organ (other, external camera, documents, reports): with no
# body part they are neither eye nor other DICOM (an eye camera's export is often "OT")
_NEUTRAL_MODALITIES = frozenset({"OT", "XC", "DOC", "SR", "KO", "PR"})
_EYE_BODY_PARTS = frozenset({"EYE", "RETINA", "CORNEA", "EYEBALL", "OPTIC NERVE"})

FEATURE_NAMES: tuple[str, ...] = (
    *(f"title_{g}" for g in _LEXICON),
    *(f"text_{g}" for g in _LEXICON),
    "is_grant",
    "is_software_kind",
    "has_description",
    "files_total",
    "files_image",
    "files_medical",
    "files_video",
    "files_code",
    "files_model",
    "files_table",
    "files_genomics",
    "files_archive",
    "share_image_like",
    "share_code_model",
    "names_eye_words",
    "names_non_eye_words",
    "inside_images",
    "inside_medical",
    "inside_code_model",
    "inside_table",
    "dicom_eye",
    "dicom_other",
    "oct_without_eye",
    "modality_with_eye",
    "data_from_eye",
    "repo_title",
    # resource type, title shape and file evidence read strongly (issue 18)
    "type_publication",
    "type_figure",
    "title_publication",
    "docs_only",
    "publication_without_images",
    "terse_title",
    "terse_with_images",
    "files_eye_device",
    "files_pathology",
    "images_with_eye_names",
    "images_with_non_eye_names",
    "images_without_text",
    "oct_non_eye_site",
    "eye_science_without_images",
    # what archive inspection saw decides records with no words (issue 18, second pass)
    "images_non_eye_dicom",
    "images_eye_dicom",
    "images_laterality_names",
    "terse_title_eye_stem",
    "listed_without_images",
    # world knowledge the encoder lacks: the title, keywords or file names carry the name of a
    # well-known eye-imaging dataset (RFMiD, ORIGA-light) or of a non-eye one (ISIC, BraTS)
    "known_eye_dataset_name",
    "known_non_eye_dataset_name",
    # what a curator reads in a wordless archive (issue 18, fourth pass): image sizes that belong
    # to one instrument, and class folders named after eye diseases or other ones
    "images_oct_geometry",
    "images_octa_geometry",
    "images_radiograph_geometry",
    "images_tile_geometry",
    "eye_class_folders",
    "non_eye_class_folders",
    # eye DICOM of measurements (visual fields, biometry) is eye data without images: it no
    # longer counts as eye images above (a perimeter's or a biometer's export)
    "eye_measurement_dicom",
    # names of a perimeter's reports (``LD0001_OD_24-2.jpg``, ``VF_OS_SITA.pdf``): images of
    # visual-field printouts are eye data, not eye images
    "perimetry_names",
)
# file and archive entry names read for known dataset names (the first ones say enough)
_MAX_NAMES_FOR_DATASETS = 64


def _cap(n: float, top: float) -> float:
    return min(float(n), top) / top


def _log(n: float) -> float:
    return math.log1p(max(float(n), 0.0)) / math.log1p(10000.0)


def _log1(n: float) -> float:
    return min(_log(n), 1.0)


def _count_exts(exts: list[str], family: frozenset[str]) -> int:
    return sum(1 for e in exts if e in family)


def evidence_features(record: Mapping[str, Any]) -> np.ndarray:
    """The feature vector of one record (order: ``FEATURE_NAMES``), values in [0, 1]."""
    return np.asarray(_read_evidence(record)[0], dtype=np.float32)


def features_and_eye_evidence(records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """:func:`feature_matrix` and :func:`eye_evidence` of each record, from one reading."""
    read = [_read_evidence(r) for r in records]
    matrix = np.asarray([values for values, _ in read], dtype=np.float32).reshape(len(read), len(FEATURE_NAMES))
    return matrix, [kinds for _, kinds in read]


def eye_evidence(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The kinds of eye evidence a curator could point to in the record (order: ``EYE_EVIDENCE``).

    ``sides`` (file names that say which eye) is listed but is the one kind that does not say
    *eye* on its own: paws, teeth, hands and agar plates (``OD600``) have sides and ODs too."""
    return _read_evidence(record)[1]


def _read_evidence(record: Mapping[str, Any]) -> tuple[list[float], tuple[str, ...]]:
    title = strip_html(record.get("title")).lower()
    text = lexical_text(record)
    if "oct" in text or "optimal cutting" in text or "tissue" in text:
        text = _OCT_COMPOUND_RE.sub(" cryo-embedding medium ", text)
    values: list[float] = [1.0 if _count_words(_LEXICON_RE[g], title) else 0.0 for g in _LEXICON]
    counts = {g: _count_words(_LEXICON_RE[g], text) for g in _LEXICON}
    values += [_cap(counts[g], 4.0) for g in _LEXICON]
    eye = counts["eye_anatomy"] > 0
    interactions = [
        # substring test first: a regex starting with \b cannot skip ahead to candidates
        # (OCT angiography is an eye technique even when the text names no eye part)
        float(
            not eye
            and ("oct" in text or "optical coherence" in text)
            and bool(_OCT_RE.search(text))
            and not _OCTA_RE.search(text)
        ),
        float(eye and counts["eye_imaging_modality"] > 0),
        float(eye and bool(_DATA_FROM_RE.match(title))),
        float(bool(_REPO_TITLE_RE.match(title))),
    ]

    kind = str(record.get("kind") or "").lower()
    values += [float(kind == "grant"), float(kind in {"software", "model"}), float(bool(record.get("description")))]
    types = _resource_types(record)

    names = file_names_of(record)
    exts = [extension(n) for n in names]
    for t in record.get("file_types") or []:
        if isinstance(t, str) and not names:
            exts.append(t.lower() if t.startswith(".") else "." + t.lower())
    n_files = max(len(exts), _int(record.get("file_count")))
    n_img = max(_count_exts(exts, IMAGE_EXTENSIONS), _int(record.get("img_count")))
    n_med = max(_count_exts(exts, MEDICAL_EXTENSIONS), _int(record.get("medical_count")))
    n_vid = _count_exts(exts, VIDEO_EXTENSIONS)
    n_code = _count_exts(exts, CODE_EXTENSIONS)
    n_model = _count_exts(exts, MODEL_EXTENSIONS)
    n_table = _count_exts(exts, TABLE_EXTENSIONS)
    n_gen = max(_count_exts(exts, GENOMICS_EXTENSIONS), _int(record.get("genomics_count")))
    n_arch = max(_count_exts(exts, ARCHIVE_EXTENSIONS), _int(record.get("archive_count")))
    n_micro = _count_exts(exts, MICROSCOPY_EXTENSIONS)
    n_img += n_micro
    inside = archive_extension_counts(record)
    in_img = sum(n for e, n in inside.items() if e in IMAGE_EXTENSIONS or e in MICROSCOPY_EXTENSIONS)
    in_med = sum(n for e, n in inside.items() if e in MEDICAL_EXTENSIONS)
    in_code = sum(n for e, n in inside.items() if e in CODE_EXTENSIONS or e in MODEL_EXTENSIONS)
    in_table = sum(n for e, n in inside.items() if e in TABLE_EXTENSIONS)
    total_known = n_files + sum(inside.values())
    dicom_eye = dicom_other = dicom_eye_images = dicom_measurements = dicom_radiology = 0
    for image in archive_images_of(record):
        modality = str(image.get("modality") or "").upper()
        body = str(image.get("body_part") or "").upper()
        # a radiology modality decides even when the body part is the head or an orbit
        if modality in _RADIOLOGY_MODALITIES:
            dicom_other += 1
            dicom_radiology += 1
        elif modality in _EYE_MODALITIES or body in _EYE_BODY_PARTS:
            dicom_eye += 1
            dicom_measurements += modality in _EYE_MEASUREMENT_MODALITIES
            dicom_eye_images += modality not in _EYE_MEASUREMENT_MODALITIES
        elif modality in _NEUTRAL_MODALITIES and not body:
            continue
        elif modality or body:
            dicom_other += 1
    # medical files whose sniffed DICOM are all measurements (a perimeter's export) are not images
    measurements_only = dicom_measurements > 0 and dicom_eye_images == 0 and dicom_other == 0
    image_like = n_img + n_vid + in_img + (0 if measurements_only else n_med + in_med)
    code_model = n_code + n_model + in_code
    inside_names = []
    for archive in record.get("archive_contents") or []:
        if isinstance(archive, Mapping):
            inside_names.append(str(archive.get("name") or ""))
            inside_names.extend(str(s) for s in archive.get("sample_names") or [] if isinstance(s, str))
    all_names = names_text(names + inside_names)
    non_eye_names = len(_NON_EYE_NAME_RE.findall(all_names))
    perimetry_names = len(_PERIMETRY_NAME_RE.findall(all_names))
    n_device = _count_exts(exts, EYE_DEVICE_EXTENSIONS) + sum(n for e, n in inside.items() if e in EYE_DEVICE_EXTENSIONS)
    n_pathology = _count_exts(exts, PATHOLOGY_EXTENSIONS) + sum(n for e, n in inside.items() if e in PATHOLOGY_EXTENSIONS)
    n_docs = _count_exts(exts, DOCUMENT_EXTENSIONS)
    data_files = [e for e in exts if e not in DOCUMENT_EXTENSIONS]
    # one rule for sides (sides.py) in both the eye-name count and the per-eye share: the weak
    # forms (10_left, RE_017, a case01_R / case01_L pair) yield to any other organ in the record
    listed = names + inside_names
    non_eye_site = bool(_NON_EYE_SITE_RE.search(text))
    other_organ = bool(listed) and bool(non_eye_names or counts["non_eye_imaging"] or dicom_other > dicom_eye or non_eye_site)
    side_flags = dict(zip(listed, eye_side_flags(listed, text, other_organ))) if listed else {}
    # with no image of any kind, eye words and sides in the names of tables, sequences, code and
    # documents (OCT_thickness.csv, mouse1_OD_retina.fastq.gz) say where samples came from, not
    # that the record holds eye images
    if image_like or n_device:
        eye_named, eye_names_text = listed, all_names
    else:
        eye_named = [n for n in listed if extension(n) not in _NOT_IMAGE_EXTENSIONS]
        eye_names_text = names_text(eye_named)
    eye_name_matches = _EYE_NAME_RE.findall(eye_names_text)
    strong_eye_names = len(eye_name_matches)
    eye_names = strong_eye_names + sum(side_flags[n] for n in dict.fromkeys(eye_named))
    shares = geometry_shares(archive_images_of(record))
    if eye_names or eye or shares[OCT] or shares[OCTA]:
        if not other_organ:
            eye_names += len(_WEAK_EYE_NAME_RE.findall(eye_names_text))
    image_names = [n for n in listed if extension(n) in IMAGE_EXTENSIONS or extension(n) in MEDICAL_EXTENSIONS]
    laterality_names = sum(1 for n in image_names if side_flags[n])
    values += [
        _log(n_files),
        _log(n_img),
        _log(n_med),
        _log(n_vid),
        _log(n_code),
        _log(n_model),
        _log(n_table),
        _log(n_gen),
        _log(n_arch),
        image_like / total_known if total_known else 0.0,
        code_model / total_known if total_known else 0.0,
        _cap(eye_names, 4.0),
        _cap(non_eye_names, 4.0),
        _log(in_img),
        _log(in_med),
        _log(in_code),
        _log(in_table),
        _cap(dicom_eye_images, 4.0),
        _cap(dicom_other, 4.0),
    ]
    # a "Data from:" title counts for the images only when the record is not a publication
    type_publication = bool(types & _PUBLICATION_TYPES)
    title_publication = bool(_PUBLICATION_TITLE_RE.search(title))
    images = image_like + dicom_eye_images + n_device
    if type_publication or title_publication:
        interactions[2] = 0.0
    words = re.findall(r"[a-z0-9]+", title)
    terse = bool(title) and (
        len(words) <= 3 or bool(_REPO_TITLE_RE.match(title)) or bool(_ACCESSION_TITLE_RE.match(title.strip()))
    )
    description_words = len(strip_html(record.get("description")).split())
    values += [
        *interactions,
        float(type_publication),
        float(bool(types & _FIGURE_TYPES)),
        float(title_publication),
        float(n_docs > 0 and not data_files and not inside),
        float((type_publication or title_publication) and images < 20),
        float(terse),
        _log1(images) if terse else 0.0,
        _cap(n_device, 4.0),
        _cap(n_pathology, 4.0),
        _log1(images) if eye_names and eye_names >= non_eye_names else 0.0,
        _log1(images) if non_eye_names > eye_names else 0.0,
        _log1(images) if description_words < 25 else 0.0,
        float(
            ("oct" in text or "optical coherence" in text or "tomograph" in text)
            and bool(_OCT_RE.search(text) or "tomograph" in text)
            and bool(_NON_EYE_SITE_RE.search(text))
        ),
        float(
            eye
            and counts["neg_genomics"] + counts["neg_molecular"] + counts["neg_electrophys"] >= 2
            and counts["eye_imaging_modality"] == 0
            and (images < 20 or non_eye_names > eye_names)
        ),
        # scaled by the image count so that "many images, no words" cannot outweigh them
        _log1(images) if dicom_other > dicom_eye else 0.0,
        _log1(images) if dicom_eye_images > dicom_other else 0.0,
        # share of the image names that say which eye (loose files are few: a share, not a count)
        laterality_names / len(image_names) if image_names else 0.0,
        float(terse and bool(_TITLE_EYE_STEM_RE.search(title))),
        # a file list with no image of any kind (and no archive left unlisted) is not an image dataset
        float(bool(names) and images == 0 and n_pathology == 0 and (n_arch == 0 or bool(inside))),
    ]
    known = known_dataset_kinds(
        [strip_html(record.get("title")), *keywords_of(record), *(names + inside_names)[:_MAX_NAMES_FOR_DATASETS]]
    )
    values += [float(EYE in known), float(OTHER in known)]
    eye_folders, non_eye_folders = class_folder_counts(listed)
    values += [
        shares[OCT] * max(_log1(images), 0.25),
        shares[OCTA] * max(_log1(images), 0.25),
        shares[RADIOGRAPH] * max(_log1(images), 0.25),
        shares[TILE] * max(_log1(images), 0.25),
        _cap(eye_folders, 2.0),
        _cap(non_eye_folders, 2.0),
        _log1(max(n_med + in_med, dicom_measurements)) if dicom_measurements > max(dicom_eye_images, dicom_other) else 0.0,
        _cap(perimetry_names, 4.0),
    ]
    # another organ for the evidence list: as ``other_organ``, but a generic DICOM modality (OT
    # "other", SC secondary capture, XC external camera) says nothing about the organ
    other_site = bool(listed) and bool(non_eye_names or counts["non_eye_imaging"] or dicom_radiology or non_eye_site)
    text_eye = eye or (counts["eye_imaging_modality"] > 0 and not counts["non_eye_imaging"] and not non_eye_site)
    cues = {
        "words": text_eye and not counts["trap"],
        # eye words in names count only where nothing names another organ (BCC_OCT.zip of skin),
        # and one word alone does not: "moth_cornea", "retina_display", "fundus_gastric" and
        # "utricle_macula" name other things; two (fundus + OD, macula + OCT) rarely do
        "names": not other_site
        and len({m.lower() for m in eye_name_matches} | ({"side"} if laterality_names else set())) >= 2,
        "dicom": dicom_eye_images > dicom_other,
        "device": n_device > 0,
        "folders": eye_folders > non_eye_folders,
        "dataset": EYE in known and OTHER not in known and not counts["trap"],
        "geometry": (shares[OCT] >= 0.5 or shares[OCTA] >= 0.5) and not other_site,
        # a clinic's notation for two eyes in image names, unless the DICOM holds visual fields
        "eye_pair": not dicom_measurements
        and not perimetry_names
        and not other_site
        and clinical_eye_pair(image_names, [side_flags[n] for n in image_names]),
        "sides": laterality_names > 0 or any(side_flags.values()),
    }
    return values, tuple(kind for kind in EYE_EVIDENCE if cues[kind])


def _resource_types(record: Mapping[str, Any]) -> set[str]:
    """The record's resource type names, lower case: ``kind`` (Zenodo resource_type.type,
    DataCite resourceTypeGeneral, Figshare defined_type name, ``grant`` for RePORTER) and the
    repository's own finer name kept in ``extra`` (Zenodo's title, DataCite's resourceType,
    Figshare's defined_type)."""
    types = {str(record.get("kind") or "").strip().lower()}
    extra = record.get("extra")
    if isinstance(extra, Mapping):
        for key in ("resource_type", "defined_type"):
            value = extra.get(key)
            if isinstance(value, str) and value.strip():
                types.add(value.strip().lower())
    types.discard("")
    types.discard("dataset")
    return types


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def feature_matrix(records: list[Mapping[str, Any]]) -> np.ndarray:
    if not records:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    return np.stack([evidence_features(r) for r in records])
