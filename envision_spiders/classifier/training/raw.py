"""Records shaped like raw repository harvests, for the kinds the classifier used to get wrong.

Each record is what a page object emits (``items.DatasetRecord`` fields: ``source``, ``kind``,
``files``, ``file_names``, counts, ``archive_contents`` as ``inspection/report.py`` writes it,
``extra`` with the repository's own resource type), written by us from public facts in our
own words. ``category`` is the evaluation kind (one of :data:`KINDS`); negatives of the hard
kinds carry ``hard_negative: true``. The ``train`` and ``test`` splits were written separately
(the held-out records are not variants of training ones); the test split is never trained on.

    python -m envision_spiders.classifier.training.build   # writes raw_heldout.jsonl too
"""

from __future__ import annotations

import re
from typing import Any

from envision_spiders.inspection.kinds import summarise_files

KINDS = ("raw_publication", "raw_terse_title", "raw_file_evidence", "raw_non_eye_oct_omics", "raw_grant_disease_first", "raw_plain")
HARD_KINDS = frozenset(KINDS[:-1])

_ZENODO_TYPES = {
    "dataset": "Dataset", "publication": "Journal article", "image": "Image", "software": "Software",
    "poster": "Poster", "presentation": "Presentation", "lesson": "Lesson", "other": "Other", "video": "Video/Audio",
}


def arc(name: str, exts: dict[str, int], samples: list[str] = (), images: list[dict[str, Any]] = (), total: int | None = None) -> dict[str, Any]:
    """An ``archive_contents`` entry as inspection leaves it after a complete listing."""
    n = sum(exts.values())
    return {
        "name": name, "format": "zip" if name.endswith(".zip") else "tar.gz", "status": "complete", "error": None,
        "entries_total": total or n, "entries_listed": n, "files_listed": n, "dirs_listed": 0,
        "extensions": dict(exts), "sample_names": list(samples), "images": [{"name": samples[0] if samples else "", **i} for i in images],
    }


def img(fmt: str, width: int | None = None, height: int | None = None, modality: str | None = None, body: str | None = None,
        frames: int | None = None, channels: int | None = None) -> dict[str, Any]:
    """A sniffed image as ``inspection/sniff.py`` reports it (``channels``: 1 grey, 3 colour, None unknown)."""
    image = {"format": fmt, "width": width, "height": height, "dims": "3D" if frames else "2D", "frames": frames,
             "modality": modality, "body_part": body}
    if channels is not None:
        image["channels"] = channels
    return image


def rec(category: str, label: str, split: str, source: str, title: str, description: str = "", *, kind: str | None = None,
        files: list[str] = (), archives: list[dict[str, Any]] = (), keywords: list[str] = (), rtype: str | None = None) -> dict[str, Any]:
    """One record as the ``source`` page object would emit it (``kind``: the repository's resource type)."""
    kind = kind or {"nei": "grant"}.get(source, "dataset")
    extra: dict[str, Any] = {}
    if source == "zenodo":
        extra["resource_type"] = rtype or _ZENODO_TYPES.get(kind, kind.title())
    elif source == "figshare":
        extra["defined_type"] = rtype or kind
    elif source == "datacite":
        extra.update(resource_type=rtype, metadata_only=True, formats=[])
    elif source == "nei":
        extra.update(activity_code="R01", agency_ic_admin="NEI")
    names = [f.split(":")[0] for f in files]
    entries = [{"name": n, "size": int(f.split(":")[1]) if ":" in f else None, "url": None, "checksum": None, "mimetype": None, "access": "open"}
               for n, f in zip(names, files)]
    record = {
        "source": source, "source_id": f"{source}-{sum(map(ord, title)) * 7919 % 10**8}", "kind": kind, "title": title,
        "description": description, "keywords": list(keywords), "files": entries, "file_names": names,
        "archive_contents": list(archives), "extra": extra, "category": category, "label": label, "split": split,
    }
    record.update(summarise_files(names, archives))
    if category in HARD_KINDS and label == "NEGATIVE":
        record["hard_negative"] = True
    return record


E, N = "EYE_IMAGING", "NEGATIVE"
CITE = ("If you use these data, please cite the accompanying article. Licensed under CC BY 4.0; redistribution must keep "
        "this notice. The authors declare no competing interests. Funding was provided by national research councils.")
ETHICS = ("The study adhered to the Declaration of Helsinki and was approved by the institutional review board; informed "
          "consent was waived for this retrospective analysis. De-identified data are shared under a data use agreement.")
LICENCE = ("This record is distributed under the Creative Commons Attribution 4.0 International licence. Users must give "
           "appropriate credit, provide a link to the licence and indicate if changes were made. Contact the corresponding "
           "author with questions. Version history: v1 initial upload; v2 corrected metadata.")


def _train() -> list[dict[str, Any]]:
    s = "train"
    return [
        # publications described as datasets
        rec("raw_publication", N, s, "zenodo", "Deep learning for diabetic retinopathy screening in fundus photographs: a systematic review",
            "We reviewed 84 studies that trained convolutional networks on colour fundus images for referable diabetic retinopathy, "
            "summarising sensitivity and specificity across datasets. " + CITE, kind="publication", files=["review_manuscript.pdf:812000"]),
        rec("raw_publication", N, s, "figshare", "Supplementary material for: Optical coherence tomography biomarkers of treatment response in neovascular AMD",
            "Supplementary tables S1-S4 and figure legends for the article.", kind="journal contribution", files=["Supplementary_Tables.docx:95000"]),
        rec("raw_publication", N, s, "zenodo", "Bilateral macular hole in a patient with Alport syndrome: a case report",
            "A 34-year-old man presented with reduced vision; fundus photography and OCT showed full-thickness macular holes in both eyes. "
            "We describe surgical management and outcome.", kind="publication", files=["case_report.pdf:402000"]),
        rec("raw_publication", N, s, "datacite", "Method and apparatus for imaging the retina with a handheld fundus camera",
            "A patent describing an optical system for non-mydriatic fundus imaging with a smartphone-mounted lens and illumination ring.",
            kind="text", rtype="Patent"),
        rec("raw_publication", N, s, "zenodo", "Retinal imaging in neurodegenerative disease: slides from the summer school lecture",
            "Lecture slides on OCT and OCT angiography findings in Alzheimer and Parkinson disease.", kind="presentation", files=["lecture.pptx:5400000"]),
        rec("raw_publication", N, s, "datacite", "Automated segmentation of geographic atrophy on fundus autofluorescence: a methods article",
            "Preprint describing a U-Net pipeline evaluated on an institutional dataset that is not released.", kind="preprint", rtype="Preprint"),
        rec("raw_publication", N, s, "figshare", "Poster: Artificial intelligence grading of retinopathy of prematurity in a tele-screening programme",
            "Conference poster presented at the annual vision research meeting.", kind="poster", files=["poster.pdf:2100000"]),
        rec("raw_publication", N, s, "zenodo", "Thesis: image analysis methods for corneal confocal microscopy",
            "Doctoral thesis on nerve fibre tracing in corneal confocal microscopy images. " + LICENCE, kind="publication", rtype="Thesis",
            files=["thesis_final.pdf:9800000"]),
        rec("raw_publication", E, s, "zenodo", "Dataset for the article: Choroidal thickness maps in high myopia",
            "Swept-source OCT volumes from 120 highly myopic eyes supporting the published analysis. " + CITE,
            files=["ssoct_volumes.zip:3900000000", "metadata.csv:22000"],
            archives=[arc("ssoct_volumes.zip", {".png": 30720, ".csv": 1}, ["vol/eye001/bscan_000.png"], [img("png", 1024, 1024)])]),
        rec("raw_publication", E, s, "figshare", "Images supporting the publication on keratoconus screening with Scheimpflug tomography",
            "Pentacam maps exported as images for every eye in the study.", kind="dataset",
            files=["pentacam_maps.zip:640000000"], archives=[arc("pentacam_maps.zip", {".jpg": 2200}, ["maps/KC_0001_OD.jpg"], [img("jpeg", 1024, 768)])]),
        # terse or opaque titles
        rec("raw_terse_title", E, s, "kaggle", "mariaherrerot/eyepacspreprocess", "Preprocessed images", files=["eyepacs_preprocess.zip:8800000000"],
            archives=[arc("eyepacs_preprocess.zip", {".jpeg": 35126, ".csv": 1}, ["eyepacs_preprocess/10_left.jpeg"], [img("jpeg", 1024, 1024)])]),
        rec("raw_terse_title", E, s, "zenodo", "S-BIAD0815", "", files=["S-BIAD0815.zip:1200000000"],
            archives=[arc("S-BIAD0815.zip", {".tif": 412}, ["flatmount/retina_M3_whole.tif"], [img("tiff", 4096, 4096)])]),
        rec("raw_terse_title", E, s, "kaggle", "ODIR-5K-lite", "Subset of the ocular disease recognition set", files=["ODIR-5K-lite.zip:900000000"],
            archives=[arc("ODIR-5K-lite.zip", {".jpg": 3500, ".xlsx": 1}, ["ODIR/0_left.jpg", "ODIR/0_right.jpg"], [img("jpeg", 2976, 2976)])]),
        rec("raw_terse_title", E, s, "figshare", "OCT5k", "Annotations and scans.", files=["OCT5k.zip:2500000000"],
            archives=[arc("OCT5k.zip", {".png": 5016, ".json": 1}, ["OCT5k/Images/AMD/amd_001.png"], [img("png", 512, 496)])]),
        rec("raw_terse_title", E, s, "kaggle", "jr2ngb/cataractdataset", "Cataract vs normal", files=["dataset.zip:240000000"],
            archives=[arc("dataset.zip", {".png": 601}, ["1_normal/NL_001.png", "2_cataract/cataract_001.png"], [img("png", 2592, 1728)])]),
        rec("raw_terse_title", E, s, "zenodo", "DS-7 v2", "Update of the release.", files=["ds7_images.tar.gz:5100000000"],
            archives=[arc("ds7_images.tar.gz", {".dcm": 2400}, ["ds7/P001/OD/IM0001.dcm"], [img("dicom", 2000, 2000, "OP", "EYE")])]),
        rec("raw_terse_title", N, s, "kaggle", "fedesoriano/heart-failure-prediction", "11 clinical features", files=["heart.csv:36000"]),
        rec("raw_terse_title", N, s, "kaggle", "andrewmvd/lung-and-colon-cancer-histopathological-images", "25,000 images",
            files=["lung_colon_image_set.zip:1900000000"], archives=[arc("lung_colon_image_set.zip", {".jpeg": 25000}, ["colon_image_sets/colon_aca/colonca1.jpeg"], [img("jpeg", 768, 768)])]),
        rec("raw_terse_title", N, s, "zenodo", "S-BSST1023", "", files=["S-BSST1023.zip:450000000"],
            archives=[arc("S-BSST1023.zip", {".fastq.gz": 48}, ["reads/SRR001_R1.fastq.gz"])]),
        rec("raw_terse_title", N, s, "figshare", "KNEE-MR", "Volumes.", files=["knee.zip:4000000000"],
            archives=[arc("knee.zip", {".dcm": 9000}, ["knee/001/IM0001.dcm"], [img("dicom", 384, 384, "MR", "KNEE")])]),
        rec("raw_terse_title", N, s, "kaggle", "bhavikjikadara/eye-tracking-dataset", "Gaze samples", files=["gaze.csv:92000000"]),
        # evidence only in files or archives
        rec("raw_file_evidence", E, s, "dryad", "Data from: Associations between systemic blood pressure and microvascular calibre",
            "These data support the findings reported in the article.", files=["photos.zip:1700000000", "README.md:3000"],
            archives=[arc("photos.zip", {".jpg": 1810}, ["photos/OD_0001.jpg", "photos/OS_0001.jpg"], [img("jpeg", 3216, 2136)])]),
        rec("raw_file_evidence", E, s, "zenodo", "Supplementary data", "", files=["OCTA_6x6.zip:380000000", "labels.xlsx:40000"],
            archives=[arc("OCTA_6x6.zip", {".bmp": 1200}, ["OCTA_6x6/10301/superficial.bmp"], [img("bmp", 400, 400)])]),
        rec("raw_file_evidence", E, s, "figshare", "Dataset", "Raw data.", files=["Export.zip:2200000000"],
            archives=[arc("Export.zip", {".e2e": 96, ".xml": 96}, ["Export/PAT0012_OD.E2E"])]),
        rec("raw_file_evidence", E, s, "osf", "Study materials", "", files=["images/left_eye_001.tif", "images/right_eye_001.tif", "images/left_eye_002.tif",
            "images/right_eye_002.tif", "images/left_eye_003.tif", "grading.csv"]),
        rec("raw_file_evidence", E, s, "zenodo", "Data for the validation study", "Data used for validation. " + LICENCE,
            files=["batch1.zip:900000000", "batch2.zip:880000000"],
            archives=[arc("batch1.zip", {".dcm": 610}, ["batch1/0001.dcm"], [img("dicom", 1956, 1934, "OP", None)]),
                      arc("batch2.zip", {".dcm": 590}, ["batch2/0611.dcm"], [img("dicom", 1956, 1934, "OP", None)])]),
        rec("raw_file_evidence", N, s, "dryad", "Data from: Associations between dietary intake and systemic biomarkers",
            "These data support the findings reported in the article.", files=["intake.xlsx:120000", "biomarkers.csv:60000", "README.md:3000"]),
        rec("raw_file_evidence", N, s, "zenodo", "Supplementary data", "", files=["slides.zip:5200000000"],
            archives=[arc("slides.zip", {".svs": 120}, ["slides/TCGA-AA-0001.svs"])]),
        rec("raw_file_evidence", N, s, "figshare", "Dataset", "Raw data.", files=["Export.zip:600000000"],
            archives=[arc("Export.zip", {".dcm": 820}, ["Export/CT0001.dcm"], [img("dicom", 512, 512, "CT", "CHEST")])]),
        rec("raw_file_evidence", N, s, "osf", "Study materials", "", files=["analysis.R", "data_long.csv", "codebook.pdf", "stimuli/face_01.png",
            "stimuli/face_02.png"]),
        rec("raw_file_evidence", N, s, "zenodo", "Data for the validation study", "Data used for validation.",
            files=["model_weights.zip:400000000"], archives=[arc("model_weights.zip", {".pth": 5, ".py": 12}, ["weights/resnet50_fold1.pth"])]),
        # non-eye OCT, retina omics / physiology
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "Optical coherence tomography of human skin lesions: basal cell carcinoma dataset",
            "OCT B-scans of basal cell carcinoma and healthy skin acquired with a VivoSight scanner during dermatology visits.",
            files=["bcc_oct.zip:1400000000"], archives=[arc("bcc_oct.zip", {".png": 3200}, ["bcc/patient01_scan010.png"], [img("png", 1300, 500)])]),
        rec("raw_non_eye_oct_omics", N, s, "figshare", "Intravascular OCT pullbacks of coronary plaques",
            "Frequency-domain intravascular OCT of coronary arteries with fibrous cap annotations.", files=["ivoct.zip:8000000000"],
            archives=[arc("ivoct.zip", {".dcm": 150}, ["pullbacks/P001.dcm"], [img("dicom", 704, 704, "IVOCT", "HEART", frames=540)])]),
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "Single-cell RNA sequencing of the adult human retina",
            "Droplet-based single-cell transcriptomes of retinal cells from five post-mortem donors, with cell-type annotations.",
            files=["counts.h5ad:2300000000", "metadata.csv:900000"]),
        rec("raw_non_eye_oct_omics", N, s, "dryad", "Data from: Light responses of mouse retinal ganglion cells recorded on a multielectrode array",
            "Spike times of ganglion cells in isolated mouse retina stimulated with moving bars and natural movies.",
            files=["spikes.mat:800000000", "stimuli.zip:90000000"], archives=[arc("stimuli.zip", {".png": 300}, ["stimuli/bar_000.png"], [img("png", 800, 600)])]),
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "Proteomic profiling of vitreous humour in proliferative diabetic retinopathy",
            "Mass spectrometry of vitreous samples from patients undergoing vitrectomy; protein abundance tables.",
            files=["proteins.xlsx:1500000", "raw.zip:9000000000"], archives=[arc("raw.zip", {".raw": 40}, ["raw/sample01.raw"])]),
        rec("raw_non_eye_oct_omics", N, s, "figshare", "OCT imaging of ancient ceramic glazes",
            "Non-destructive optical coherence tomography of glaze layers on museum porcelain.", files=["glaze_oct.zip:300000000"],
            archives=[arc("glaze_oct.zip", {".tif": 200}, ["glaze/sample3_b012.tif"], [img("tiff", 1000, 512)])]),
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "Electroretinogram recordings in Rpe65 knockout mice",
            "Scotopic and photopic ERG waveforms across ages, exported as text.", files=["erg_waveforms.zip:50000000"],
            archives=[arc("erg_waveforms.zip", {".txt": 640}, ["erg/KO_m01_scotopic.txt"])]),
        rec("raw_non_eye_oct_omics", E, s, "zenodo", "Spectral-domain OCT of the macula in multiple sclerosis",
            "Macular volume scans of patients with relapsing MS and controls, with retinal layer thickness segmentation.",
            files=["ms_oct.zip:2000000000"], archives=[arc("ms_oct.zip", {".png": 9800}, ["ms_oct/MS012_OD_b049.png"], [img("png", 512, 496)])]),
        rec("raw_non_eye_oct_omics", E, s, "figshare", "Confocal images of whole-mount mouse retinas after optic nerve crush",
            "Retinal flat-mounts immunostained for RBPMS to count surviving ganglion cells.", files=["flatmounts.zip:3000000000"],
            archives=[arc("flatmounts.zip", {".czi": 96}, ["ONC/d7_mouse4_OD.czi"])]),
        rec("raw_non_eye_oct_omics", E, s, "zenodo", "Adaptive optics images of cone photoreceptors in retinitis pigmentosa",
            "AO-SLO montages of the parafovea with cone coordinates.", files=["aoslo.zip:700000000"],
            archives=[arc("aoslo.zip", {".tif": 420}, ["aoslo/RP03_OS_confocal.tif"], [img("tiff", 720, 720)])]),
        # grants that lead with the disease
        rec("raw_grant_disease_first", E, s, "nei", "Imaging biomarkers of progression in intermediate AMD",
            "Age-related macular degeneration is the leading cause of irreversible vision loss in older adults, and the transition from "
            "intermediate disease to geographic atrophy or neovascularisation is hard to predict. Nutritional supplements slow progression "
            "in only some patients, and current clinical staging relies on coarse grading. Genetic risk explains part of the variance but "
            "does not tell a clinician when an eye will progress. " + "Many patients are followed for years without a change in management. " * 2 +
            "In this project we will acquire longitudinal multimodal retinal imaging - spectral-domain OCT volumes, fundus autofluorescence "
            "and near-infrared reflectance - every six months in 400 eyes, and build an openly shared, annotated image dataset for training "
            "progression models."),
        rec("raw_grant_disease_first", E, s, "nei", "Retinopathy of prematurity risk in low-resource settings",
            "Retinopathy of prematurity blinds thousands of infants each year, mostly where neonatal care is improving but screening is scarce. "
            "Oxygen management, birth weight and gestational age all contribute to risk, and the burden falls on countries with few "
            "ophthalmologists. Training programmes have not kept pace with the growth of neonatal units. "
            "Aim 2 will collect wide-field retinal images with low-cost cameras across 12 neonatal units and grade them centrally, creating an "
            "image archive to validate automated plus-disease detection."),
        rec("raw_grant_disease_first", N, s, "nei", "Genetic modifiers of severity in Stargardt disease",
            "Stargardt disease is the most common inherited macular dystrophy, caused by mutations in ABCA4, and its severity varies widely "
            "even between siblings. We hypothesise that variants in other visual cycle genes modify the phenotype. We will sequence 600 "
            "patients, test candidate modifiers in cell models, and relate genotype to age at onset."),
        rec("raw_grant_disease_first", N, s, "nei", "Adherence to glaucoma medication in underserved communities",
            "Glaucoma causes irreversible blindness, and poor adherence to eye drops is common. This project tests a community health "
            "worker intervention with text-message reminders in a randomised trial and measures adherence with electronic bottle monitors."),
        rec("raw_grant_disease_first", N, s, "nei", "Mechanisms of retinal ganglion cell death in experimental glaucoma",
            "Glaucoma is a progressive optic neuropathy. Elevated pressure triggers axonal transport failure and ganglion cell death "
            "through pathways that remain unclear. We will use knockout mice and electrophysiology to dissect the role of calcium signalling "
            "and test neuroprotective compounds."),
        rec("raw_grant_disease_first", N, s, "nei", "Economic burden of diabetic eye disease",
            "Diabetic retinopathy affects one third of people with diabetes. Using claims databases we will estimate costs of screening, "
            "treatment and vision loss and model the cost-effectiveness of screening intervals."),
        # plain positives and negatives
        rec("raw_plain", E, s, "zenodo", "Fundus photograph dataset for glaucoma detection from a community screening",
            "1,450 colour fundus photographs centred on the optic disc, labelled glaucoma or normal by two specialists.",
            files=["fundus.zip:1500000000", "labels.csv:30000"], archives=[arc("fundus.zip", {".jpg": 1450}, ["fundus/G_0001.jpg"], [img("jpeg", 2048, 1536)])]),
        rec("raw_plain", E, s, "figshare", "Anterior segment OCT images of angle closure", "AS-OCT scans of narrow and open angles with scleral spur annotations.",
            files=["asoct.zip:900000000"], archives=[arc("asoct.zip", {".jpg": 1600}, ["asoct/ac_0001.jpg"], [img("jpeg", 1800, 800)])]),
        rec("raw_plain", N, s, "zenodo", "Global land surface temperature composites 2000-2020", "Monthly gridded temperature from satellites.",
            files=["lst.zip:12000000000"], archives=[arc("lst.zip", {".tif": 252}, ["lst/2000_01.tif"], [img("tiff", 7200, 3600)])]),
        rec("raw_plain", N, s, "kaggle", "Students Performance in Exams", "Marks of high school students", files=["StudentsPerformance.csv:72000"]),
    ]


def _test() -> list[dict[str, Any]]:
    s = "test"
    return [
        # publications described as datasets
        rec("raw_publication", N, s, "zenodo", "Optical coherence tomography angiography in uveitis: a narrative review",
            "This review summarises OCTA findings in anterior, intermediate and posterior uveitis and discusses how capillary dropout relates "
            "to disease activity. " + CITE, kind="publication", files=["OCTA_uveitis_review.pdf:1200000"]),
        rec("raw_publication", N, s, "figshare", "Supplementary material for: Fundus photograph-based deep learning predicts cardiovascular risk",
            "Supplementary methods, eTables 1-6 and eFigures 1-3.", kind="journal contribution", files=["supplement.pdf:1800000"]),
        rec("raw_publication", N, s, "zenodo", "Acute macular neuroretinopathy after viral infection: report of two cases",
            "Two young women developed paracentral scotomas; near-infrared imaging and OCT revealed wedge-shaped lesions in the outer retina. " + CITE,
            kind="publication", files=["AMN_cases.pdf:650000"]),
        rec("raw_publication", N, s, "datacite", "System and method for automated grading of retinal images",
            "Patent application for a cloud service that receives fundus images from screening cameras and returns a retinopathy grade.",
            kind="text", rtype="Patent"),
        rec("raw_publication", N, s, "datacite", "Segmenting retinal fluid on OCT with transformers: methods and validation",
            "Methods paper describing a transformer model for intraretinal and subretinal fluid segmentation; code is available on request.",
            kind="journalarticle", rtype="Journal article"),
        rec("raw_publication", N, s, "figshare", "Keratoconus imaging: what the general ophthalmologist needs to know",
            "Educational presentation on corneal tomography, epithelial maps and progression criteria.", kind="presentation",
            files=["keratoconus_imaging.pptx:7800000"]),
        rec("raw_publication", N, s, "zenodo", "Ultra-widefield imaging in diabetic retinopathy: protocol for a prospective study",
            "Study protocol for comparing ultra-widefield and seven-field photography. " + ETHICS, kind="publication", rtype="Other",
            files=["protocol_v3.docx:210000"]),
        rec("raw_publication", N, s, "figshare", "Figure 3: Representative fundus autofluorescence images in Best disease",
            "Panel figure from the article showing autofluorescence stages.", kind="figure", files=["Fig3.tif:4200000"]),
        rec("raw_publication", E, s, "zenodo", "Data for the paper: Deep learning detection of papilloedema on fundus photographs",
            "Fundus photographs from 19 neuro-ophthalmology centres used in the published study. " + CITE,
            files=["papilledema_images.zip:6300000000", "labels.csv:150000"],
            archives=[arc("papilledema_images.zip", {".jpg": 14341}, ["images/site04/P0041_OS.jpg"], [img("jpeg", 2592, 1944)])]),
        rec("raw_publication", E, s, "figshare", "Image files accompanying the article on corneal endothelium cell counting",
            "Specular microscopy images of the corneal endothelium with manual cell segmentations.",
            files=["endothelium.zip:400000000"], archives=[arc("endothelium.zip", {".png": 1040}, ["endo/KH_0021_OD.png"], [img("png", 640, 480)])]),
        # terse or opaque titles
        rec("raw_terse_title", E, s, "kaggle", "paultimothymooney/kermany2018", "Retinal OCT", files=["OCT2017.zip:5800000000"],
            archives=[arc("OCT2017.zip", {".jpeg": 84484}, ["OCT2017/train/CNV/CNV-1016042-1.jpeg"], [img("jpeg", 512, 496)])]),
        rec("raw_terse_title", E, s, "zenodo", "S-BIAD1204", "", files=["S-BIAD1204.zip:2700000000"],
            archives=[arc("S-BIAD1204.zip", {".tif": 250}, ["retina_cryosections/P14_rd10_section3.tif"], [img("tiff", 2048, 2048)])]),
        rec("raw_terse_title", E, s, "figshare", "GAMMA", "Glaucoma grading from multi-modality images.", files=["GAMMA.zip:3600000000"],
            archives=[arc("GAMMA.zip", {".png": 25600, ".jpg": 100}, ["multi-modality/0001/0001.jpg", "multi-modality/0001/0001/0001_image_1.png"], [img("png", 512, 992)])]),
        rec("raw_terse_title", E, s, "kaggle", "gunavenkatdoddi/eye-diseases-classification", "4 classes", files=["dataset.zip:770000000"],
            archives=[arc("dataset.zip", {".jpg": 4217}, ["dataset/glaucoma/_10_2.jpg", "dataset/diabetic_retinopathy/10007_right.jpeg"], [img("jpeg", 512, 512)])]),
        rec("raw_terse_title", E, s, "zenodo", "RIM-ONE DL", "Reorganised release.", files=["RIM-ONE_DL_images.zip:120000000"],
            archives=[arc("RIM-ONE_DL_images.zip", {".png": 485}, ["partitioned_by_hospital/training_set/glaucoma/r2_Im259.png"], [img("png", 600, 600)])]),
        rec("raw_terse_title", E, s, "datacite", "MMC-AMD", "Multi-camera colour images.", rtype="Dataset"),
        rec("raw_terse_title", N, s, "kaggle", "uciml/pima-indians-diabetes-database", "Predict the onset of diabetes", files=["diabetes.csv:23000"]),
        rec("raw_terse_title", N, s, "kaggle", "paultimothymooney/chest-xray-pneumonia", "5,863 images", files=["chest_xray.zip:2300000000"],
            archives=[arc("chest_xray.zip", {".jpeg": 5863}, ["chest_xray/train/PNEUMONIA/person1_bacteria_1.jpeg"], [img("jpeg", 1300, 1000)])]),
        rec("raw_terse_title", N, s, "zenodo", "S-BSST889", "", files=["S-BSST889.zip:80000000"],
            archives=[arc("S-BSST889.zip", {".csv": 12, ".txt": 3}, ["tables/abundance.csv"])]),
        rec("raw_terse_title", N, s, "figshare", "BraTS-mini", "Volumes.", files=["brats.zip:2000000000"],
            archives=[arc("brats.zip", {".nii.gz": 1200}, ["BraTS/001/flair.nii.gz"])]),
        # evidence only in files or archives
        rec("raw_file_evidence", E, s, "dryad", "Data from: Vascular changes after bariatric surgery",
            "Data associated with the manuscript. See README for file descriptions.", files=["baseline.zip:950000000", "followup.zip:940000000", "README.txt:2000"],
            archives=[arc("baseline.zip", {".jpg": 412}, ["baseline/S001_OD_disc.jpg", "baseline/S001_OS_macula.jpg"], [img("jpeg", 2896, 1944)]),
                      arc("followup.zip", {".jpg": 398}, ["followup/S001_OD_disc.jpg"], [img("jpeg", 2896, 1944)])]),
        rec("raw_file_evidence", E, s, "zenodo", "Raw data", "", files=["Heidelberg_export.zip:4100000000"],
            archives=[arc("Heidelberg_export.zip", {".vol": 230}, ["export/pt0043_OD.vol"])]),
        rec("raw_file_evidence", E, s, "figshare", "S1 Dataset", "", files=["S1_Dataset.zip:300000000"],
            archives=[arc("S1_Dataset.zip", {".dcm": 180}, ["S1/0001/IM00001.dcm"], [img("dicom", 1536, 1536, "OPT", "EYE", frames=128)])]),
        rec("raw_file_evidence", E, s, "osf", "Materials", "", files=["data/OD_0001.jpg", "data/OS_0001.jpg", "data/OD_0002.jpg", "data/OS_0002.jpg",
            "data/OD_0003.jpg", "data/OS_0003.jpg", "labels.xlsx"]),
        rec("raw_file_evidence", E, s, "zenodo", "Dataset for the manuscript", "Please cite the manuscript. " + LICENCE,
            files=["part1.zip:2000000000", "part2.zip:2000000000"],
            archives=[arc("part1.zip", {".png": 2048}, ["part1/0001_macula.png"], [img("png", 1536, 1536)]),
                      arc("part2.zip", {".png": 2001}, ["part2/1049_macula.png"], [img("png", 1536, 1536)])]),
        rec("raw_file_evidence", N, s, "dryad", "Data from: Vascular changes after bariatric surgery",
            "Data associated with the manuscript. See README for file descriptions.", files=["anthropometrics.csv:40000", "lipids.csv:30000", "README.txt:2000"]),
        rec("raw_file_evidence", N, s, "zenodo", "Raw data", "", files=["scans.zip:900000000"],
            archives=[arc("scans.zip", {".dcm": 3000}, ["scans/S1/IM0001.dcm"], [img("dicom", 256, 256, "MR", "BRAIN")])]),
        rec("raw_file_evidence", N, s, "figshare", "S1 Dataset", "", files=["S1_Dataset.xlsx:80000"]),
        rec("raw_file_evidence", N, s, "osf", "Materials", "", files=["exp1/trial_001.edf", "exp1/trial_002.edf", "exp1/trial_003.edf",
            "analysis.py", "README.md"]),
        rec("raw_file_evidence", N, s, "zenodo", "Dataset for the manuscript", "Please cite the manuscript.", files=["tiles.zip:3000000000"],
            archives=[arc("tiles.zip", {".png": 52000}, ["tiles/TCGA-A1-001_x12_y44.png"], [img("png", 224, 224)])]),
        # non-eye OCT, retina omics / physiology
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "Optical coherence tomography of the human tympanic membrane in otitis media",
            "Handheld OCT images of the eardrum and middle ear effusion collected in a paediatric ENT clinic.",
            files=["tm_oct.zip:700000000"], archives=[arc("tm_oct.zip", {".png": 1900}, ["tm/child012_left_b05.png"], [img("png", 1000, 600)])]),
        rec("raw_non_eye_oct_omics", N, s, "figshare", "OCT volumes of oral mucosa for early cancer detection",
            "Swept-source OCT of buccal mucosa lesions with histology-confirmed labels.", files=["oral_oct.zip:2500000000"],
            archives=[arc("oral_oct.zip", {".tif": 300}, ["oral/lesion04_vol.tif"], [img("tiff", 1024, 512, frames=300)])]),
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "Spatial transcriptomics of the human macula and periphery",
            "Visium spatial gene expression of retina-RPE-choroid sections from donor eyes, with spot-level counts.",
            files=["visium_counts.h5ad:1800000000", "spots.csv:400000"]),
        rec("raw_non_eye_oct_omics", N, s, "dryad", "Data from: Rod and cone contributions to the mouse electroretinogram",
            "Flash ERG recordings in wild-type and Gnat1 knockout mice across intensities; amplitudes and implicit times.",
            files=["erg_recordings.zip:120000000", "amplitudes.csv:80000"], archives=[arc("erg_recordings.zip", {".abf": 320}, ["erg/WT_m2_flash05.abf"])]),
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "Lipidomics of retinal pigment epithelium cells under oxidative stress",
            "LC-MS lipid profiles of ARPE-19 cells treated with hydrogen peroxide.", files=["lipids.xlsx:900000"]),
        rec("raw_non_eye_oct_omics", N, s, "figshare", "Calcium imaging of retinal ganglion cells responding to chirp stimuli",
            "Two-photon calcium traces (dF/F) of ganglion cells in the ex vivo mouse retina with cluster assignments.",
            files=["traces.h5:600000000", "clusters.csv:20000"]),
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "Polarisation-sensitive OCT of burn scars",
            "PS-OCT volumes of hypertrophic scars before and after laser therapy.", files=["psoct_scars.zip:3300000000"],
            archives=[arc("psoct_scars.zip", {".mat": 60}, ["scar/pt05_pre.mat"])]),
        rec("raw_non_eye_oct_omics", E, s, "figshare", "OCT B-scans of retinal detachment before and after vitrectomy",
            "Macular OCT images of eyes with rhegmatogenous detachment at baseline and three months after surgery.",
            files=["rd_oct.zip:800000000"], archives=[arc("rd_oct.zip", {".png": 2600}, ["rd/pt010_pre_b025.png"], [img("png", 768, 496)])]),
        rec("raw_non_eye_oct_omics", E, s, "zenodo", "Light-sheet images of cleared mouse eyes showing retinal vasculature",
            "Whole cleared eyes imaged by light-sheet microscopy after vascular labelling, one volume per eye.",
            files=["lightsheet.zip:9000000000"], archives=[arc("lightsheet.zip", {".tif": 64}, ["eyes/m03_OD.tif"], [img("tiff", 2048, 2048, frames=900)])]),
        rec("raw_non_eye_oct_omics", E, s, "dryad", "Data from: In vivo imaging of photoreceptors in mice with OCT",
            "Visible-light OCT volumes of the outer retina in wild-type and rd10 mice.", files=["vis_oct.zip:1200000000"],
            archives=[arc("vis_oct.zip", {".tif": 120}, ["visoct/rd10_p21_vol.tif"], [img("tiff", 512, 1024, frames=512)])]),
        # grants that lead with the disease
        rec("raw_grant_disease_first", E, s, "nei", "Predicting conversion to neovascular AMD",
            "Neovascular age-related macular degeneration causes sudden loss of central vision, and although anti-VEGF injections preserve "
            "sight, outcomes depend on how quickly treatment begins after conversion. Many patients convert between scheduled visits and lose "
            "vision before they are seen. Risk factors such as smoking, genetic variants and fellow-eye status explain only part of the "
            "variation in timing, and home monitoring with Amsler grids is unreliable. The public health burden is rising with the age of the "
            "population and the cost of frequent injections. "
            "We will perform swept-source OCT angiography every three months in 300 fellow eyes and release the resulting de-identified OCTA "
            "and structural OCT image volumes, with conversion dates, as a resource for developing prediction algorithms."),
        rec("raw_grant_disease_first", E, s, "nei", "Early detection of glaucoma in primary care",
            "Glaucoma is asymptomatic until late and half of those affected in the community are undiagnosed. Access to specialists is "
            "limited in rural areas and screening with pressure alone misses most cases. Family history and ancestry increase risk, and the "
            "economic cost of late detection is large. " + "Vision loss from glaucoma cannot be recovered. " +
            "Aim 1 will capture optic disc photographs and OCT scans of the nerve fibre layer in 5,000 primary care patients using portable "
            "devices; the graded image set will be used to train and test automated referral."),
        rec("raw_grant_disease_first", E, s, "nei", "Diabetic retinopathy in Indigenous communities",
            "Diabetes rates in remote Indigenous communities are among the highest in the world and diabetic retinopathy is a major cause of "
            "blindness there. Travel distances, cost and workforce shortages prevent regular eye examinations. Community partners have asked "
            "for screening that does not require travel. " +
            "We will deploy handheld fundus cameras with community health workers, collect retinal photographs at every visit and build a "
            "graded image archive to evaluate automated screening in this population."),
        rec("raw_grant_disease_first", E, s, "nei", "Structural markers of optic neuritis recovery",
            "Optic neuritis is often the first sign of multiple sclerosis, and visual recovery is variable. Corticosteroids speed recovery "
            "but do not change the final outcome, and patients want to know their prognosis. Inflammation and demyelination both contribute. "
            "This study will image the retina with OCT at presentation and at 1, 3 and 12 months, quantifying ganglion cell layer thinning "
            "in the image volumes to predict final acuity."),
        rec("raw_grant_disease_first", N, s, "nei", "Gene therapy for X-linked retinoschisis",
            "X-linked retinoschisis is a leading cause of juvenile macular degeneration in boys, caused by mutations in RS1. Affected children "
            "lose reading vision and there is no treatment. We will optimise an AAV vector, test dose and safety in a mouse model, and prepare "
            "an investigational new drug application."),
        rec("raw_grant_disease_first", N, s, "nei", "Social determinants of vision impairment in older adults",
            "Vision impairment affects millions of older adults and is linked to falls, depression and loss of independence. Using national "
            "survey data we will examine how income, education and neighbourhood shape access to eye care and rates of impairment."),
        rec("raw_grant_disease_first", N, s, "nei", "Corneal wound healing after chemical injury",
            "Chemical burns of the cornea cause scarring and blindness, especially in industrial workers. We will define signalling pathways "
            "that drive myofibroblast transformation using cultured keratocytes, rabbit injury models and molecular assays, and test a "
            "topical inhibitor."),
        rec("raw_grant_disease_first", N, s, "nei", "Myopia progression and outdoor time in schoolchildren",
            "Myopia is rising rapidly worldwide and high myopia increases the risk of retinal detachment and myopic maculopathy. We will run a "
            "cluster-randomised trial of added outdoor time in 40 schools, measuring cycloplegic refraction and axial length yearly."),
        # plain positives and negatives
        rec("raw_plain", E, s, "zenodo", "Colour fundus photographs with diabetic retinopathy grades from a national screening programme",
            "3,200 macula-centred fundus images graded by certified readers.", files=["images.zip:3100000000", "grades.csv:90000"],
            archives=[arc("images.zip", {".jpg": 3200}, ["images/DR_000123.jpg"], [img("jpeg", 3000, 2000)])]),
        rec("raw_plain", E, s, "figshare", "Slit-lamp photographs of infectious keratitis",
            "Diffuse and slit-beam photographs of bacterial and fungal corneal ulcers with culture results.",
            files=["keratitis.zip:700000000"], archives=[arc("keratitis.zip", {".jpg": 1100}, ["keratitis/fungal/FK_0001.jpg"], [img("jpeg", 1600, 1200)])]),
        rec("raw_plain", E, s, "kaggle", "Retinal OCT images for choroidal segmentation", "Annotated B-scans of the choroid",
            files=["choroid.zip:400000000"], archives=[arc("choroid.zip", {".png": 1800}, ["choroid/img/0001.png", "choroid/mask/0001.png"], [img("png", 768, 496)])]),
        rec("raw_plain", N, s, "zenodo", "Hourly electricity consumption of 370 households", "Smart meter readings 2011-2014.",
            files=["consumption.csv:680000000"]),
        rec("raw_plain", N, s, "figshare", "Photographs of pollinators on urban flowers", "Field photographs of bees and hoverflies on garden plants.",
            files=["pollinators.zip:2200000000"], archives=[arc("pollinators.zip", {".jpg": 4100}, ["bees/IMG_0001.jpg"], [img("jpeg", 4000, 3000)])]),
        rec("raw_plain", N, s, "kaggle", "Iris Species", "Classify iris plants into three species", files=["Iris.csv:5000", "database.sqlite:9000"]),
    ]


def raw_records() -> list[dict[str, Any]]:
    """Every raw-shaped record, both splits (seeded variants join the training split)."""
    return (_train() + variant_records() + inspection_variants() + side_variants() + known_name_variants()
            + archive_evidence_variants() + _test()
            + _test_fresh() + _test_fresh_second())


def _test_fresh() -> list[dict[str, Any]]:
    """A second held-out set for the two short kinds (terse titles, evidence only in files), written
    in one sitting before any model scored it, so the 10-record kinds can show more than "fixed or
    not" (``origin`` = ``raw_fresh``; same file, same rule: never trained on)."""
    s = "test"
    out = [
        # terse or opaque titles: eye images
        rec("raw_terse_title", E, s, "kaggle", "tanlikesmath/diabetic-retinopathy-resized", "Resized train images",
            files=["resized_train.zip:8300000000", "trainLabels.csv:400000"],
            archives=[arc("resized_train.zip", {".jpeg": 35108}, ["resized_train/10_left.jpeg"], [img("jpeg", 1024, 1024)])]),
        rec("raw_terse_title", E, s, "zenodo", "OLIVES", "", files=["OLIVES.zip:35000000000"],
            archives=[arc("OLIVES.zip", {".png": 78000, ".csv": 2}, ["OLIVES/Prime_FULL/01-001/W1/OD/1.png"], [img("png", 504, 496)])]),
        rec("raw_terse_title", E, s, "figshare", "GAMMA-lite", "Release 1.", files=["GAMMA-lite.zip:3100000000"],
            archives=[arc("GAMMA-lite.zip", {".jpg": 100, ".png": 25600}, ["multi-modality_images/0001/0001.jpg", "multi-modality_images/0001/0001/0001_1.png"],
                          [img("jpeg", 1956, 1934)])]),
        rec("raw_terse_title", E, s, "kaggle", "paultimothymooney/kermany2018", "Version 2", files=["OCT2017.zip:5800000000"],
            archives=[arc("OCT2017.zip", {".jpeg": 84484}, ["OCT2017/train/CNV/CNV-1016042-1.jpeg"], [img("jpeg", 512, 496)])]),
        rec("raw_terse_title", E, s, "zenodo", "RFMiD", "Training, evaluation and test subsets.", files=["RFMiD.zip:13000000000"],
            archives=[arc("RFMiD.zip", {".png": 3200, ".csv": 3}, ["Training_Set/Training/1.png"], [img("png", 4288, 2848)])]),
        rec("raw_terse_title", E, s, "datacite", "S-BIAD1207", "Light-sheet volumes of cleared whole mouse eyes.", kind="dataset", rtype="Dataset"),
        rec("raw_terse_title", E, s, "kaggle", "mohammadhossein/octdl", "OCT dataset", files=["OCTDL.zip:1200000000"],
            archives=[arc("OCTDL.zip", {".jpg": 2064}, ["OCTDL/AMD/amd_1047099_1.jpg"], [img("jpeg", 768, 496)])]),
        rec("raw_terse_title", E, s, "figshare", "ROP-2021", "Set A", files=["setA.zip:700000000"],
            archives=[arc("setA.zip", {".png": 1500}, ["setA/infant_017_OS_1.png"], [img("png", 640, 480)])]),
        rec("raw_terse_title", E, s, "zenodo", "FIVES", "", files=["FIVES.zip:1700000000"],
            archives=[arc("FIVES.zip", {".png": 1600}, ["train/Original/1_A.png", "train/Ground truth/1_A.png"], [img("png", 2048, 2048)])]),
        rec("raw_terse_title", E, s, "kaggle", "linchundan/fundusimage1000", "1000 images, 39 categories", files=["1000images.zip:1300000000"],
            archives=[arc("1000images.zip", {".jpg": 1000}, ["1000images/0.0.Normal/8fe4b3b2.jpg"], [img("jpeg", 2592, 1728)])]),
        # terse or opaque titles: not eye images
        rec("raw_terse_title", N, s, "kaggle", "paultimothymooney/chest-xray-pneumonia", "5,863 images", files=["chest_xray.zip:2400000000"],
            archives=[arc("chest_xray.zip", {".jpeg": 5856}, ["chest_xray/train/PNEUMONIA/person1_bacteria_1.jpeg"], [img("jpeg", 1300, 1000)])]),
        rec("raw_terse_title", N, s, "zenodo", "S-BIAD0634", "", files=["S-BIAD0634.zip:6000000000"],
            archives=[arc("S-BIAD0634.zip", {".tif": 300}, ["HeLa/plate1_A01_s1.tif"], [img("tiff", 2048, 2048)])]),
        rec("raw_terse_title", N, s, "figshare", "BraTS-mini", "Subset.", files=["BraTS-mini.zip:2000000000"],
            archives=[arc("BraTS-mini.zip", {".nii.gz": 500}, ["BraTS/BraTS2021_00001_flair.nii.gz"])]),
        rec("raw_terse_title", N, s, "kaggle", "kmader/skin-cancer-mnist-ham10000", "Dermatoscopic images", files=["HAM10000.zip:2800000000"],
            archives=[arc("HAM10000.zip", {".jpg": 10015, ".csv": 1}, ["HAM10000_images_part_1/ISIC_0024306.jpg"], [img("jpeg", 600, 450)])]),
        rec("raw_terse_title", N, s, "zenodo", "MOODS-2", "Version 2.", files=["moods2.zip:3000000000"],
            archives=[arc("moods2.zip", {".dcm": 1200}, ["moods2/sub014/IM0001.dcm"], [img("dicom", 256, 256, "MR", "BRAIN")])]),
        rec("raw_terse_title", N, s, "kaggle", "uciml/pima-indians-diabetes-database", "Diabetes onset", files=["diabetes.csv:24000"]),
        rec("raw_terse_title", N, s, "figshare", "EX-441", "", files=["ex441.zip:900000000"],
            archives=[arc("ex441.zip", {".dcm": 240}, ["ex441/case_001.dcm"], [img("dicom", 800, 600, "US", "ABDOMEN")])]),
        rec("raw_terse_title", N, s, "kaggle", "awsaf49/cbis-ddsm-breast-cancer-image-dataset", "Mammograms", files=["jpeg.zip:5000000000"],
            archives=[arc("jpeg.zip", {".jpg": 10237}, ["jpeg/1.3.6.1.4.1.9590/1-263.jpg"], [img("jpeg", 3000, 5000)])]),
        rec("raw_terse_title", N, s, "zenodo", "RET-SEQ-2", "Count matrices from retinal organoids.", files=["counts.h5ad:1800000000", "cells.csv:500000"]),
        rec("raw_terse_title", N, s, "kaggle", "gpiosenka/100-bird-species", "Bird images", files=["birds.zip:1900000000"],
            archives=[arc("birds.zip", {".jpg": 89000}, ["train/ABBOTTS BABBLER/001.jpg"], [img("jpeg", 224, 224)])]),
        # evidence only in files / archives: eye images
        rec("raw_file_evidence", E, s, "zenodo", "Data", "", files=["OD.zip:1300000000", "OS.zip:1280000000"],
            archives=[arc("OD.zip", {".jpg": 420}, ["OD/001.jpg"], [img("jpeg", 3000, 2000)]),
                      arc("OS.zip", {".jpg": 415}, ["OS/001.jpg"], [img("jpeg", 3000, 2000)])]),
        rec("raw_file_evidence", E, s, "osf", "Raw images", "", files=["P01_OD_macula.tif", "P01_OS_macula.tif", "P02_OD_macula.tif", "P02_OS_macula.tif",
            "P03_OD_disc.tif", "grades.xlsx"]),
        rec("raw_file_evidence", E, s, "dryad", "Data from: Visual outcomes after vitrectomy for epiretinal membrane", "Data files for the article.",
            files=["scans.zip:900000000", "outcomes.csv:40000"],
            archives=[arc("scans.zip", {".png": 960}, ["scans/ERM_023_OS_preop.png"], [img("png", 1024, 496)])]),
        rec("raw_file_evidence", E, s, "figshare", "Dataset 2", "Raw data.", files=["export.zip:3000000000"],
            archives=[arc("export.zip", {".vol": 60}, ["export/subj12_OD.vol"])]),
        rec("raw_file_evidence", E, s, "zenodo", "Supplementary dataset", LICENCE, files=["volumes.zip:14000000000"],
            archives=[arc("volumes.zip", {".dcm": 480}, ["volumes/0001.dcm"], [img("dicom", 512, 885, "OPT", "EYE", frames=128)])]),
        rec("raw_file_evidence", E, s, "osf", "Experiment files", "", files=["right_eye_01.jpg", "right_eye_02.jpg", "left_eye_01.jpg", "left_eye_02.jpg",
            "left_eye_03.jpg", "notes.txt"]),
        rec("raw_file_evidence", E, s, "zenodo", "Data underlying Figure 4", "", files=["fig4_data.zip:800000000"],
            archives=[arc("fig4_data.zip", {".tif": 64}, ["fig4/mouse_retina_flatmount_ctrl_01.tif"], [img("tiff", 2048, 2048)])]),
        rec("raw_file_evidence", E, s, "figshare", "Images", "", files=["train_images.zip:9000000000", "train.csv:50000"],
            archives=[arc("train_images.zip", {".png": 3662}, ["train_images/000c1434d8d7.png"], [img("png", 2416, 1736)])]),
        rec("raw_file_evidence", E, s, "dryad", "Data from: Ocular surface changes in contact lens wearers", "These data support the article.",
            files=["meibography.zip:600000000", "README.md:2000"],
            archives=[arc("meibography.zip", {".jpg": 640}, ["meibography/CL_017_upper.jpg"], [img("jpeg", 1280, 960)])]),
        rec("raw_file_evidence", E, s, "zenodo", "Replication package", "Code and images.", files=["code.zip:200000", "images.zip:300000000"],
            archives=[arc("code.zip", {".py": 14}, ["code/train.py"]),
                      arc("images.zip", {".png": 1200}, ["images/OCTA_3x3/patient_031_OD_deep.png"], [img("png", 320, 320)])]),
        # evidence only in files / archives: not eye images
        rec("raw_file_evidence", N, s, "zenodo", "Raw data", "", files=["raw.zip:1500000000"],
            archives=[arc("raw.zip", {".dcm": 2400}, ["raw/S001/IM0001.dcm"], [img("dicom", 256, 256, "MR", "HEAD")])]),
        rec("raw_file_evidence", N, s, "figshare", "Dataset", "Raw data.", files=["dataset.zip:4500000000"],
            archives=[arc("dataset.zip", {".dcm": 900}, ["dataset/0001.dcm"], [img("dicom", 2500, 2048, "CR", "CHEST")])]),
        rec("raw_file_evidence", N, s, "osf", "Study materials", "", files=["stimuli/scene_001.jpg", "stimuli/scene_002.jpg", "responses.csv", "analysis.R",
            "left_hand_responses.csv"]),
        rec("raw_file_evidence", N, s, "zenodo", "Data", "", files=["images.zip:2600000000"],
            archives=[arc("images.zip", {".jpg": 5000}, ["images/wound_0231.jpg"], [img("jpeg", 1600, 1200)])]),
        rec("raw_file_evidence", N, s, "dryad", "Data from: Visual acuity outcomes after cataract surgery in a district hospital",
            "These data support the article.", files=["outcomes.xlsx:90000", "README.md:2500"]),
        rec("raw_file_evidence", N, s, "figshare", "Supplementary data", "", files=["us.zip:700000000"],
            archives=[arc("us.zip", {".dcm": 300}, ["us/case_011.dcm"], [img("dicom", 1024, 768, "US", "BREAST")])]),
        rec("raw_file_evidence", N, s, "zenodo", "Files", "", files=["plates.zip:12000000000"],
            archives=[arc("plates.zip", {".tif": 1200}, ["plates/A01_DAPI.tif"], [img("tiff", 2160, 2160)])]),
        rec("raw_file_evidence", N, s, "osf", "Data and code", "", files=["sub01_gaze.edf", "sub02_gaze.edf", "fixations.csv", "analysis.py"]),
        rec("raw_file_evidence", N, s, "zenodo", "Replication data", "", files=["derivatives.zip:8000000000"],
            archives=[arc("derivatives.zip", {".nii.gz": 200}, ["derivatives/sub-01_ses-01_bold.nii.gz"])]),
        rec("raw_file_evidence", N, s, "figshare", "Images", "", files=["mammo.zip:9000000000"],
            archives=[arc("mammo.zip", {".dcm": 600}, ["mammo/P_00001_LEFT_CC.dcm"], [img("dicom", 3328, 2560, "MG", "BREAST")])]),
    ]
    for r in out:
        r["origin"] = "raw_fresh"
    return out


def _test_fresh_second() -> list[dict[str, Any]]:
    """A third held-out set (``origin`` = ``raw_fresh2``), written after the first two had been
    scored once and before any model scored it: the first two then served as the validation split
    of the last design changes, and this one gives the figures reported for them."""
    s = "test"
    out = [
        # terse titles
        rec("raw_terse_title", E, s, "kaggle", "andrewmvd/drive-digital-retinal-images-for-vessel-extraction", "DRIVE",
            files=["DRIVE.zip:30000000"], archives=[arc("DRIVE.zip", {".tif": 40, ".gif": 80}, ["training/images/21_training.tif"], [img("tiff", 565, 584)])]),
        rec("raw_terse_title", E, s, "zenodo", "ORIGA-light", "", files=["origa.zip:900000000"],
            archives=[arc("origa.zip", {".jpg": 650, ".mat": 650}, ["ORIGA/Images/001.jpg"], [img("jpeg", 3072, 2048)])]),
        rec("raw_terse_title", E, s, "figshare", "AROI", "Annotated volumes.", files=["AROI.zip:1100000000"],
            archives=[arc("AROI.zip", {".png": 3072}, ["AROI/patient1/raw/labeled/patient1_raw0052.png"], [img("png", 512, 1024)])]),
        rec("raw_terse_title", E, s, "kaggle", "sshikamaru/glaucoma-detection", "ACRIMA + ORIGA", files=["glaucoma.zip:400000000"],
            archives=[arc("glaucoma.zip", {".jpg": 1300}, ["Fundus_Train_Val_Data/Fundus_Scanes_Sorted/Train/Glaucoma_Positive/001.jpg"], [img("jpeg", 2048, 1536)])]),
        rec("raw_terse_title", E, s, "zenodo", "S-BIAD1380", "Two-photon images of living mouse retina.", files=["S-BIAD1380.zip:2000000000"],
            archives=[arc("S-BIAD1380.zip", {".tif": 180}, ["stack_001.tif"], [img("tiff", 512, 512)])]),
        rec("raw_terse_title", E, s, "kaggle", "deathtrooper/multichannel-glaucoma-benchmark-dataset", "SMDG", files=["smdg.zip:3000000000"],
            archives=[arc("smdg.zip", {".png": 12449, ".csv": 1}, ["full-fundus/full-fundus/BEH-1.png"], [img("png", 512, 512)])]),
        rec("raw_terse_title", E, s, "figshare", "DUKE-DME", "", files=["duke_dme.zip:500000000"],
            archives=[arc("duke_dme.zip", {".mat": 10}, ["2015_BOE_Chiu/Subject_01.mat"])]),
        rec("raw_terse_title", E, s, "zenodo", "CS-7 release", "Slit-lamp set.", files=["cs7.zip:800000000"],
            archives=[arc("cs7.zip", {".jpg": 1800}, ["cs7/img_0001.jpg"], [img("jpeg", 2592, 1944)])]),
        rec("raw_terse_title", N, s, "kaggle", "tawsifurrahman/covid19-radiography-database", "COVID-19 chest X-ray", files=["covid.zip:800000000"],
            archives=[arc("covid.zip", {".png": 21165}, ["COVID-19_Radiography_Dataset/COVID/images/COVID-1.png"], [img("png", 299, 299)])]),
        rec("raw_terse_title", N, s, "zenodo", "S-BIAD0901", "", files=["S-BIAD0901.zip:4000000000"],
            archives=[arc("S-BIAD0901.zip", {".ome.tif": 96}, ["organoids/intestinal_d4_03.ome.tif"], [img("tiff", 2048, 2048)])]),
        rec("raw_terse_title", N, s, "figshare", "LIDC-sub", "Nodules.", files=["lidc.zip:6000000000"],
            archives=[arc("lidc.zip", {".dcm": 5000}, ["LIDC-IDRI-0001/1-001.dcm"], [img("dicom", 512, 512, "CT", "CHEST")])]),
        rec("raw_terse_title", N, s, "kaggle", "tourist55/alzheimers-dataset-4-class-of-images", "Alzheimer MRI slices", files=["alz.zip:40000000"],
            archives=[arc("alz.zip", {".jpg": 6400}, ["Alzheimer_s Dataset/train/MildDemented/mildDem0.jpg"], [img("jpeg", 176, 208)])]),
        rec("raw_terse_title", N, s, "zenodo", "EYE-Q survey 2022", "Responses.", files=["responses.csv:300000", "codebook.pdf:80000"]),
        rec("raw_terse_title", N, s, "kaggle", "crawford/emnist", "Handwritten characters", files=["emnist.zip:1200000000"]),
        rec("raw_terse_title", N, s, "figshare", "ECHO-2", "", files=["echo.zip:9000000000"],
            archives=[arc("echo.zip", {".avi": 10030}, ["EchoNet/Videos/0X1A0A263B22CCD966.avi"])]),
        rec("raw_terse_title", N, s, "datacite", "RGC-ephys", "Patch-clamp recordings from retinal ganglion cells.", kind="dataset", rtype="Dataset"),
        # evidence only in files / archives
        rec("raw_file_evidence", E, s, "zenodo", "Data set 1", "", files=["set1.zip:2000000000"],
            archives=[arc("set1.zip", {".png": 5000}, ["set1/normal/NORMAL-1001-1.png", "set1/drusen/DRUSEN-2001-1.png"], [img("png", 768, 496)])]),
        rec("raw_file_evidence", E, s, "figshare", "Raw files", "", files=["Patient_04_OD.fds", "Patient_04_OS.fds", "Patient_05_OD.fds", "notes.txt"]),
        rec("raw_file_evidence", E, s, "osf", "Images for the reading study", "", files=["reading/case01_R.jpg", "reading/case01_L.jpg",
            "reading/case02_R.jpg", "reading/case02_L.jpg", "answers.csv"]),
        rec("raw_file_evidence", E, s, "dryad", "Data from: Rod and cone loss in aged primates", "Supporting data.", files=["wholemounts.zip:3000000000"],
            archives=[arc("wholemounts.zip", {".czi": 48}, ["wholemounts/monkey3_retina_peripheral.czi"])]),
        rec("raw_file_evidence", E, s, "zenodo", "Export", "", files=["export.zip:700000000"],
            archives=[arc("export.zip", {".dcm": 220}, ["export/1.2.276.0.75.2.dcm"], [img("dicom", 1536, 1536, "OPT", None, frames=256)])]),
        rec("raw_file_evidence", E, s, "figshare", "Supplementary dataset S2", "", files=["S2.zip:400000000"],
            archives=[arc("S2.zip", {".jpg": 320}, ["S2/RE_017.jpg", "S2/LE_017.jpg"], [img("jpeg", 1600, 1200)])]),
        rec("raw_file_evidence", E, s, "zenodo", "Materials", "Image files.", files=["imgs.zip:1000000000"],
            archives=[arc("imgs.zip", {".png": 2100}, ["imgs/0001_OS_faf.png"], [img("png", 768, 768)])]),
        rec("raw_file_evidence", E, s, "osf", "Project files", "", files=["scans/sub01_OD_vol.e2e", "scans/sub02_OD_vol.e2e", "demographics.csv"]),
        rec("raw_file_evidence", N, s, "zenodo", "Data set 1", "", files=["set1.zip:3000000000"],
            archives=[arc("set1.zip", {".dcm": 1800}, ["set1/case01/IM-0001-0001.dcm"], [img("dicom", 512, 512, "MR", "BREAST")])]),
        rec("raw_file_evidence", N, s, "figshare", "Raw files", "", files=["trial_01.abf", "trial_02.abf", "trial_03.abf", "protocol.pdf"]),
        rec("raw_file_evidence", N, s, "osf", "Images for the reading study", "", files=["reading/case01_R.png", "reading/case01_L.png", "reading/case02_R.png",
            "answers.csv"], archives=[arc("extra.zip", {".dcm": 40}, ["extra/hand_01.dcm"], [img("dicom", 2000, 2500, "DX", "HAND")])]),
        rec("raw_file_evidence", N, s, "dryad", "Data from: Lens transparency and crystallin expression in ageing mice", "Supporting data.",
            files=["qpcr.xlsx:50000", "westerns.zip:20000000"], archives=[arc("westerns.zip", {".tif": 24}, ["westerns/blot_crystallin_01.tif"], [img("tiff", 1200, 800)])]),
        rec("raw_file_evidence", N, s, "zenodo", "Export", "", files=["export.zip:900000000"],
            archives=[arc("export.zip", {".dcm": 600}, ["export/1.2.840.113654.dcm"], [img("dicom", 1024, 1024, "XA", "HEART", frames=60)])]),
        rec("raw_file_evidence", N, s, "figshare", "Supplementary dataset S2", "", files=["S2.zip:200000000"],
            archives=[arc("S2.zip", {".jpg": 700}, ["S2/rat_017_left_paw.jpg"], [img("jpeg", 1920, 1080)])]),
        rec("raw_file_evidence", N, s, "zenodo", "Materials", "Image files.", files=["imgs.zip:2500000000"],
            archives=[arc("imgs.zip", {".png": 9000}, ["imgs/street_0001.png"], [img("png", 2048, 1024)])]),
        rec("raw_file_evidence", N, s, "osf", "Project files", "", files=["eeg/sub01_task.edf", "eeg/sub02_task.edf", "events.tsv"]),
        # non-eye OCT, retina omics / physiology (checks the kind that passed before)
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "OCT of the vocal folds during phonation", "High-speed OCT of human vocal folds in vivo.",
            files=["vf_oct.zip:1200000000"], archives=[arc("vf_oct.zip", {".png": 2400}, ["vf/subject03_left_fold_0100.png"], [img("png", 1024, 512)])]),
        rec("raw_non_eye_oct_omics", N, s, "figshare", "Endoscopic OCT of the airway in asthma", "Airway wall B-scans.",
            files=["airway.zip:800000000"], archives=[arc("airway.zip", {".tif": 900}, ["airway/pt12_right_bronchus_010.tif"], [img("tiff", 1000, 600)])]),
        rec("raw_non_eye_oct_omics", N, s, "zenodo", "Retinal organoid single-cell atlas", "scRNA-seq of human retinal organoids over 30 weeks.",
            files=["atlas.h5ad:5000000000"]),
        rec("raw_non_eye_oct_omics", N, s, "dryad", "Data from: Calcium imaging of starburst amacrine cells", "Fluorescence traces.",
            files=["traces.mat:400000000"]),
        rec("raw_non_eye_oct_omics", E, s, "zenodo", "OCT volumes of the optic nerve head in glaucoma suspects", "Spectralis ONH scans.",
            files=["onh.zip:3000000000"], archives=[arc("onh.zip", {".png": 7300}, ["onh/G017_OD_b025.png"], [img("png", 768, 496)])]),
        rec("raw_non_eye_oct_omics", E, s, "figshare", "Retinal OCT of zebrafish larvae", "In vivo OCT of the larval zebrafish eye.",
            files=["zf_oct.zip:300000000"], archives=[arc("zf_oct.zip", {".tif": 400}, ["zf/larva05_eye_b100.tif"], [img("tiff", 500, 500)])]),
    ]
    for r in out:
        r["origin"] = "raw_fresh2"
    return out


# --- seeded variants for the training split only (pools written for training; the held-out
# records above share no sentence with them) ---------------------------------------------
_EYE_TOPICS = [
    "retinal vessel segmentation in fundus images", "OCT-based detection of diabetic macular oedema",
    "glaucoma screening with optic disc photographs", "automated grading of retinopathy of prematurity",
    "corneal nerve analysis in confocal microscopy", "deep learning on OCT angiography in diabetes",
    "choroidal neovascularisation on OCT", "keratoconus detection from corneal topography",
    "fundus autofluorescence in inherited retinal disease", "drusen quantification on spectral-domain OCT",
    "ultra-widefield imaging of peripheral retinal lesions", "slit-lamp image analysis of cataract",
]
_PUB_FORMS = [
    ("{t}: a systematic review and meta-analysis", "publication", "Journal article", ["manuscript.pdf"]),
    ("Supplementary material for: {t}", "journal contribution", None, ["Supplementary_File_1.docx", "Table_S2.xlsx"]),
    ("{t}: case report and literature review", "publication", "Journal article", ["case.pdf"]),
    ("Poster - {t}", "poster", None, ["poster_final.pdf"]),
    ("Slides: {t}", "presentation", None, ["talk.pptx"]),
    ("System and method for {t}", "text", "Patent", []),
    ("{t} (preprint)", "preprint", "Preprint", []),
    ("A tutorial on {t}", "lesson", None, ["tutorial.pdf"]),
    ("{t}: study protocol", "publication", "Other", ["protocol.docx"]),
    ("Figure 2 - {t}", "figure", None, ["Figure_2.png"]),
]
_EYE_ARCHIVES = [
    ({".jpg": 900}, ["photos/OD_{i:04d}.jpg", "photos/OS_{i:04d}.jpg"], img("jpeg", 2048, 1536)),
    ({".png": 2400}, ["bscans/vol{i:03d}_b064.png"], img("png", 512, 496)),
    ({".dcm": 300}, ["dicom/{i:04d}/IM0001.dcm"], img("dicom", 1956, 1934, "OP", "EYE")),
    ({".tif": 150}, ["retina/flatmount_{i:02d}.tif"], img("tiff", 4096, 4096)),
    ({".e2e": 80}, ["export/P{i:04d}_OD.E2E"], None),
    ({".bmp": 600}, ["octa/{i:05d}/superficial.bmp"], img("bmp", 304, 304)),
    ({".jpeg": 5000}, ["train/{i}_left.jpeg", "train/{i}_right.jpeg"], img("jpeg", 1024, 1024)),
    ({".png": 700}, ["slitlamp/cornea_{i:03d}.png"], img("png", 1600, 1200)),
]
_NON_EYE_ARCHIVES = [
    ({".jpeg": 4000}, ["xray/NORMAL/IM-{i:04d}.jpeg"], img("jpeg", 1400, 1100)),
    ({".dcm": 2000}, ["ct/{i:03d}/slice_001.dcm"], img("dicom", 512, 512, "CT", "ABDOMEN")),
    ({".png": 30000}, ["tiles/slide{i:03d}_x0_y0.png"], img("png", 256, 256)),
    ({".nii.gz": 400}, ["mri/sub-{i:03d}_T1w.nii.gz"], None),
    ({".jpg": 2500}, ["skin/ISIC_{i:07d}.jpg"], img("jpeg", 1024, 768)),
    ({".tif": 800}, ["sentinel/tile_{i:04d}.tif"], img("tiff", 10980, 10980)),
    ({".py": 40, ".pth": 3}, ["src/train_{i}.py"], None),
    ({".csv": 30}, ["tables/visit_{i}.csv"], None),
    ({".jpg": 1500}, ["plants/leaf_{i:04d}.jpg"], img("jpeg", 3000, 2000)),
]
_TERSE_EYE = ["{u}/retina-{n}", "{u}/fundus-{n}", "{u}/octdata{n}", "S-BIAD{n}", "EYE-{n}", "RET{n}", "{u}/eyepacs-{n}",
              "ODX-{n}", "{u}/oct-{n}-v2", "CORNEA{n}", "{u}/dr-grading-{n}", "MAC{n}"]
_TERSE_ANY = ["{u}/dataset{n}", "DS-{n}", "S-BSST{n}", "DATA{n}", "{u}/images-{n}", "X{n}-v{v}", "{u}/collection-{n}", "P{n}"]
_TERSE_NON_EYE = ["{u}/chest-{n}", "{u}/skin-lesions-{n}", "LUNG{n}", "{u}/brain-mri-{n}", "{u}/crop-disease-{n}", "CT{n}"]
_USERS = ["alexk", "datalab", "mchen", "priyas", "openmed", "visionteam", "jdoe", "lab42"]
_VAGUE = ["Data", "Supplementary data", "Dataset S1", "Raw data for the study", "Data underlying the figures", "Materials",
          "Data from: a clinical cohort", "Files", "Replication data"]
_OCT_SITES = [
    ("human skin", "dermatology clinic"), ("coronary arteries", "catheterisation laboratory"), ("the oesophagus", "endoscopy unit"),
    ("dental enamel", "dental school"), ("the tympanic membrane", "ENT clinic"), ("breast tumour margins", "surgical pathology"),
    ("the bladder wall", "urology department"), ("paint layers of historical artworks", "conservation lab"),
    ("zebrafish larvae hearts", "developmental biology lab"), ("plant leaves", "botany department"),
]
_RETINA_OMICS = [
    ("Bulk RNA-seq of {a} retina after light damage", ["counts.tsv", "samples.csv"], {}),
    ("ATAC-seq of human retinal pigment epithelium", ["peaks.bed", "fragments.tsv.gz"], {}),
    ("Proteome of {a} retina in diabetes", ["proteinGroups.xlsx"], {}),
    ("Multielectrode array recordings of {a} retinal ganglion cells", ["spikes.zip"], {".mat": 40}),
    ("Patch-clamp recordings from {a} bipolar cells", ["recordings.zip"], {".abf": 200}),
    ("Electroretinography in {a} models of retinal degeneration", ["erg.zip"], {".csv": 300}),
    ("Metabolomics of aqueous humour in glaucoma", ["metabolites.xlsx"], {}),
    ("Single-nucleus RNA-seq of the {a} optic nerve head", ["matrix.mtx", "barcodes.tsv"], {}),
    ("Whole-exome sequencing of families with inherited retinal dystrophy", ["variants.vcf.gz"], {}),
    ("Retinal gene expression under hypoxia in {a}", ["expression.csv"], {}),
]
_ANIMALS = ["mouse", "rat", "zebrafish", "macaque", "pig"]
_DISEASE_OPENERS = [
    "{d} is a major cause of visual impairment and its prevalence grows as populations age.",
    "Patients with {d} face progressive loss of vision and current treatments only slow the disease.",
    "{d} places a large economic burden on health systems, and many cases are found late.",
    "The mechanisms that drive {d} remain poorly understood despite decades of research.",
    "Risk factors for {d} include age, ancestry and systemic disease, but they predict individual outcomes poorly.",
    "Access to specialist care for {d} is unequal, particularly in rural and low-income regions.",
]
_IMAGING_AIMS = [
    "We will acquire OCT volumes and colour fundus photographs at every visit and curate them into an annotated image resource.",
    "Aim 2 builds a shared archive of retinal images, graded by a reading centre, to train and validate automated detection.",
    "The project will collect adaptive optics images of photoreceptors and release the image dataset with expert annotations.",
    "We will image the anterior segment with OCT and slit-lamp photography and share the de-identified image collection.",
    "Longitudinal OCT angiography will be recorded in every participant, producing an image dataset for progression modelling.",
]
_NON_IMAGING_AIMS = [
    "We will genotype participants and test associations with disease severity using regression models.",
    "A randomised trial will compare two treatment regimens using visual acuity as the primary outcome.",
    "We will use knockout animals and biochemical assays to define the signalling pathway involved.",
    "Interviews and surveys of patients will identify barriers to follow-up care.",
    "We will test a gene-replacement vector for safety and efficacy in an animal model.",
    "National claims data will be analysed to estimate costs and care patterns.",
]
_FILLER = ["Preliminary data support the feasibility of this approach.", "The team combines clinical and engineering expertise.",
           "The results will inform clinical practice guidelines.", "Outcomes will be disseminated through publications and meetings."]


def _arc_from(spec: tuple[dict[str, int], list[str], dict[str, Any] | None], name: str, i: int) -> dict[str, Any]:
    exts, samples, image = spec
    return arc(name, exts, [s.format(i=i) for s in samples], [image] if image else [])


def variant_records(seed: int = 11) -> list[dict[str, Any]]:
    """Seeded raw-shaped variants of every kind, training split only."""
    import random

    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    s = "train"
    diseases = ["diabetic retinopathy", "glaucoma", "age-related macular degeneration", "keratoconus", "uveitis", "retinitis pigmentosa"]
    for i, topic in enumerate(_EYE_TOPICS * 4):
        form, kind, rtype, files = _PUB_FORMS[(i + rng.randrange(3)) % len(_PUB_FORMS)]
        source = {"journal contribution": "figshare", "poster": "figshare", "figure": "figshare", "text": "datacite", "preprint": "datacite"}.get(kind, "zenodo")
        desc = rng.choice(["", f"This article discusses {topic}.", f"We summarise evidence on {topic}. " + CITE, LICENCE])
        out.append(rec("raw_publication", N, s, source, form.format(t=topic[0].upper() + topic[1:]), desc, kind=kind, rtype=rtype,
                       files=[f"{f}:{rng.randint(10**5, 10**7)}" for f in files]))
    for i, topic in enumerate(_EYE_TOPICS * 2):
        title = rng.choice(["Data for: {t}", "Image data supporting the article on {t}", "Dataset of the study on {t}", "{t}: images"]).format(t=topic)
        out.append(rec("raw_publication", E, s, rng.choice(["zenodo", "figshare", "dryad"]), title,
                       rng.choice(["", "Images underlying the published analysis. " + CITE, "Please cite the article."]),
                       files=[f"images.zip:{rng.randint(10**8, 10**10)}"], archives=[_arc_from(rng.choice(_EYE_ARCHIVES), "images.zip", i)]))
    for i in range(40):
        fill = {"u": rng.choice(_USERS), "n": rng.randint(10, 9999), "v": rng.randint(1, 4)}
        source = rng.choice(["kaggle", "zenodo", "figshare"])
        sub = rng.choice(["", "v2", "images", "Dataset", "Release", "Train/test split"])
        if i % 2 == 0:
            title = rng.choice(_TERSE_EYE if i % 4 == 0 else _TERSE_ANY).format(**fill)
            out.append(rec("raw_terse_title", E, s, source, title, sub, files=[f"data.zip:{rng.randint(10**8, 10**10)}"],
                           archives=[_arc_from(rng.choice(_EYE_ARCHIVES), "data.zip", i)]))
        else:
            title = rng.choice(_TERSE_NON_EYE if i % 4 == 1 else _TERSE_ANY).format(**fill)
            out.append(rec("raw_terse_title", N, s, source, title, sub, files=[f"data.zip:{rng.randint(10**6, 10**10)}"],
                           archives=[_arc_from(rng.choice(_NON_EYE_ARCHIVES), "data.zip", i)]))
    for i in range(40):
        title = rng.choice(_VAGUE)
        desc = rng.choice(["", "", "Data supporting the manuscript.", LICENCE, ETHICS])
        source = rng.choice(["zenodo", "figshare", "dryad", "osf"])
        if i % 2 == 0:
            spec = rng.choice(_EYE_ARCHIVES)
            if rng.random() < 0.3:  # loose files only, no archive
                names = [spec[1][0].format(i=j).split("/")[-1] for j in range(1, 6)] + ["labels.csv"]
                out.append(rec("raw_file_evidence", E, s, source, title, desc, files=names))
            else:
                out.append(rec("raw_file_evidence", E, s, source, title, desc, files=["archive.zip:900000000", "README.txt"],
                               archives=[_arc_from(spec, "archive.zip", i)]))
        else:
            spec = rng.choice(_NON_EYE_ARCHIVES)
            out.append(rec("raw_file_evidence", N, s, source, title, desc, files=["archive.zip:900000000", "README.txt"],
                           archives=[_arc_from(spec, "archive.zip", i)]))
    for i, (site, place) in enumerate(_OCT_SITES * 2):
        title = rng.choice(["Optical coherence tomography of {s}", "OCT images of {s}", "Swept-source OCT dataset: {s}", "OCT B-scans of {s} for segmentation"]).format(s=site)
        out.append(rec("raw_non_eye_oct_omics", N, s, rng.choice(["zenodo", "figshare"]), title,
                       f"Cross-sectional OCT scans acquired at a {place}, with manual annotations.",
                       files=["oct.zip:500000000"], archives=[arc("oct.zip", {".png": rng.randint(200, 3000)}, [f"oct/sample{i:03d}_b010.png"], [img("png", 1000, 500)])]))
    for i, (title, files, exts) in enumerate(_RETINA_OMICS * 2):
        a = rng.choice(_ANIMALS)
        out.append(rec("raw_non_eye_oct_omics", N, s, rng.choice(["zenodo", "dryad", "figshare"]), title.format(a=a),
                       rng.choice(["", "Processed data tables from the study.", f"Samples from {a} retina were processed as described in the article."]),
                       files=files, archives=[arc(files[0], exts, [f"data/rec{i:03d}{next(iter(exts))}"])] if exts else []))
    for i in range(12):
        title = rng.choice(["Retinal OCT volumes of {d}", "Fundus photographs in {d}", "Retinal imaging in {a} models of {d}"]).format(d=rng.choice(diseases), a=rng.choice(_ANIMALS))
        out.append(rec("raw_non_eye_oct_omics", E, s, rng.choice(["zenodo", "figshare"]), title, "Images with annotations.",
                       files=["images.zip:700000000"], archives=[_arc_from(rng.choice(_EYE_ARCHIVES[:4]), "images.zip", i)]))
    for i in range(30):
        d = rng.choice(diseases)
        opener = " ".join(rng.sample(_DISEASE_OPENERS, 3)).format(d=d[0].upper() + d[1:])
        filler = " ".join(rng.sample(_FILLER, rng.randint(1, 3)))
        imaging = i % 2 == 0
        aim = rng.choice(_IMAGING_AIMS if imaging else _NON_IMAGING_AIMS)
        title = rng.choice(["Understanding {d}", "Improving outcomes in {d}", "Risk and progression of {d}", "New approaches to {d}"]).format(d=d)
        out.append(rec("raw_grant_disease_first", E if imaging else N, s, "nei", title, f"{opener} {filler} {aim}"))
    for r in out:
        r["origin"] = "raw_variant"
    return out


# --- second pass (issue 18): what archive inspection saw, for records with almost no words. Pools
# written for training only, from public facts about imaging formats: radiology DICOM headers
# (modality and body part as scanners write them, typical matrix sizes), eye-device DICOM, and
# the per-eye file naming of ophthalmic datasets.
_RADIOLOGY_DICOM = [
    ("MR", "BRAIN", 256, 256), ("MR", "HEAD", 512, 512), ("MR", "KNEE", 384, 384), ("MR", "LSPINE", 320, 320),
    ("MR", "PROSTATE", 384, 384), ("MR", "HEART", 208, 256), ("CT", "HEAD", 512, 512), ("CT", "CHEST", 512, 512),
    ("CT", "ABDOMEN", 512, 512), ("CR", "CHEST", 2500, 2048), ("DX", "HAND", 2320, 2828), ("MG", "BREAST", 3328, 2560),
    ("US", "ABDOMEN", 800, 600), ("US", "HEART", 1016, 708), ("PT", "WHOLEBODY", 192, 192), ("XA", "HEART", 512, 512),
    ("NM", "", 128, 128), ("CT", "", 512, 512), ("MR", "", 256, 256), ("DX", "CHEST", 3000, 2500),
]
_EYE_DICOM = [
    ("OP", "EYE", 3900, 3072, None), ("OP", "", 2000, 1500, None), ("OPT", "EYE", 512, 496, 49), ("OPT", "", 1024, 885, 128),
    ("OPT", "RETINA", 768, 496, 97), ("SC", "EYE", 1444, 1444, None), ("OP", "RETINA", 1956, 1934, None), ("OPT", "EYE", 304, 304, 304),
]
_DICOM_SAMPLES = ["IM0001.dcm", "0001.dcm", "series1/slice_010.dcm", "I0000001.dcm", "1.2.840.113619.2.55.1.dcm", "study/000001.dcm"]
_LATERALITY_FILES = [
    "{p}_OD.jpg", "{p}_OS.jpg", "OD_{p}.png", "OS_{p}.png", "{p}_left.jpeg", "{p}_right.jpeg", "left_eye_{p}.tif",
    "right_eye_{p}.tif", "{p}-OD-macula.jpg", "{p}-OS-disc.jpg", "{p}.OD.bmp", "{p}_OU.jpg", "{p} right eye.jpg",
]
_PLAIN_SAMPLES = ["photos/{i:04d}.jpg", "images/{h}.png", "{i:05d}.jpg", "data/img_{i:04d}.tif", "train/{h}.jpeg", "IMG_{i:04d}.JPG", "raw/{i}.png"]
_NON_EYE_LOOSE = [
    ["stimuli/img_{i:03d}.jpg", "stimuli/img_{j:03d}.jpg", "responses.csv", "analysis.R"],
    ["left_hand_{i}.csv", "right_hand_{i}.csv", "grip_strength.xlsx"],
    ["wound_{i:04d}.jpg", "wound_{j:04d}.jpg", "measurements.csv"],
    ["sub-{i:02d}_gaze.edf", "sub-{j:02d}_gaze.edf", "fixations.csv"],
    ["leaf_{i:03d}_left.jpg", "leaf_{j:03d}_right.jpg", "traits.csv"],
]
_EYE_SUBTITLES = ["Colour fundus photographs with grades.", "OCT volumes of the macula.", "Slit-lamp photographs of the cornea.",
                  "Retinal flat-mount micrographs.", "Widefield retinal images of infants.", "OCT angiography en face images."]
_NON_EYE_SUBTITLES = ["Brain MRI volumes with tumour masks.", "Chest radiographs with reports.", "Dermoscopy images of skin lesions.",
                      "Cardiac ultrasound clips.", "Knee MR scans.", "Histology tiles of colon cancer."]


def inspection_variants(seed: int = 23) -> list[dict[str, Any]]:
    """Seeded records whose evidence is in DICOM headers, image file names or a one-line subtitle
    (terse-title and file-evidence kinds, training split only)."""
    import random

    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    s = "train"

    def title_for(kind: str, eye: bool, i: int) -> str:
        if kind == "raw_file_evidence":
            return rng.choice(_VAGUE + ["Raw data", "Images", "Dataset", "Export", "Archive", "Study data", "Data for the analysis"])
        fill = {"u": rng.choice(_USERS), "n": rng.randint(10, 9999), "v": rng.randint(1, 4)}
        return rng.choice(_TERSE_ANY + (_TERSE_EYE if eye and i % 3 == 0 else [])).format(**fill)

    for kind in ("raw_file_evidence", "raw_terse_title"):
        for i in range(len(_RADIOLOGY_DICOM) + 4):
            modality, body, w, h = _RADIOLOGY_DICOM[i % len(_RADIOLOGY_DICOM)]
            n = rng.choice([120, 400, 900, 2400, 9000])
            sample = rng.choice(_DICOM_SAMPLES)
            frames = rng.choice([None, None, 40]) if modality in {"US", "XA"} else None
            out.append(rec(kind, N, s, rng.choice(["zenodo", "figshare", "osf", "kaggle"]), title_for(kind, False, i),
                           rng.choice(["", "", "Raw data.", "Version 2.", LICENCE]), files=[f"data.zip:{n * 500000}"],
                           archives=[arc("data.zip", {".dcm": n}, [f"data/{sample}"], [img("dicom", w, h, modality, body or None, frames)])]))
        for i in range(len(_EYE_DICOM) + 2):
            modality, body, w, h, frames = _EYE_DICOM[i % len(_EYE_DICOM)]
            n = rng.choice([60, 300, 1200, 4000])
            out.append(rec(kind, E, s, rng.choice(["zenodo", "figshare", "osf", "kaggle"]), title_for(kind, True, i),
                           rng.choice(["", "", "Raw data.", "Export from the clinic.", LICENCE]), files=[f"export.zip:{n * 2000000}"],
                           archives=[arc("export.zip", {".dcm": n}, [f"export/{rng.choice(_DICOM_SAMPLES)}"], [img("dicom", w, h, modality, body or None, frames)])]))
        for i in range(12):
            patient = f"{rng.choice(['P', 'S', 'ID', ''])}{rng.randint(1, 999):03d}"
            pattern = rng.choice(_LATERALITY_FILES)
            ext_img = rng.choice([("jpeg", 3000, 2000), ("png", 1024, 496), ("tiff", 2048, 1536), ("jpeg", 1444, 1444)])
            title = title_for(kind, True, i)
            if i % 2:  # loose files
                names = [pattern.format(p=f"{patient}{j}") for j in range(rng.randint(3, 8))] + [rng.choice(["grades.csv", "labels.xlsx", "README.txt"])]
                out.append(rec(kind, E, s, rng.choice(["osf", "zenodo", "figshare"]), title, "", files=names))
            else:
                n = rng.choice([80, 400, 1500, 6000])
                ext = "." + pattern.rsplit(".", 1)[1].lower()
                out.append(rec(kind, E, s, rng.choice(["zenodo", "figshare", "kaggle", "dryad"]), title, rng.choice(["", "Images.", "Raw data."]),
                               files=[f"images.zip:{n * 3000000}"],
                               archives=[arc("images.zip", {ext: n}, [f"images/{pattern.format(p=patient)}"], [img(*ext_img)])]))
        # images with generic names and no words: most such archives in a repository are not of eyes
        for i in range(16):
            eye = i % 3 == 0
            h = "".join(rng.choice("0123456789abcdef") for _ in range(12))
            sample = rng.choice(_PLAIN_SAMPLES).format(i=rng.randint(1, 9999), h=h)
            size = rng.choice([(2048, 1536), (3216, 2136), (1024, 1024)]) if eye else rng.choice([(4000, 3000), (2160, 2160), (640, 480), (1600, 1200)])
            ext = "." + sample.rsplit(".", 1)[1].lower()
            subtitle = rng.choice(_EYE_SUBTITLES if eye else _NON_EYE_SUBTITLES) if kind == "raw_terse_title" else ""
            out.append(rec(kind, E if eye else N, s, rng.choice(["zenodo", "figshare", "kaggle"]), title_for(kind, eye, i), subtitle,
                           files=[f"images.zip:{rng.randint(10**8, 10**10)}"],
                           archives=[arc("images.zip", {ext: rng.randint(200, 20000)}, [sample], [img(ext.lstrip(".").replace("jpg", "jpeg"), *size)])]))
        for i in range(6):
            loose = rng.choice(_NON_EYE_LOOSE)
            names = [n.format(i=rng.randint(1, 99), j=rng.randint(100, 199)) for n in loose]
            out.append(rec(kind, N, s, rng.choice(["osf", "zenodo", "figshare"]), title_for(kind, False, i), "", files=names))
    for i in range(12):  # metadata-only records: an accession or acronym and one line
        eye = i % 2 == 0
        fill = {"u": rng.choice(_USERS), "n": rng.randint(10, 9999), "v": rng.randint(1, 4)}
        title = rng.choice(["S-BIAD{n}", "DS-{n}", "X{n}-v{v}", "DATA{n}", "P{n}"]).format(**fill)
        out.append(rec("raw_terse_title", E if eye else N, s, "datacite", title, rng.choice(_EYE_SUBTITLES if eye else _NON_EYE_SUBTITLES),
                       kind="dataset", rtype="Dataset"))
    for r in out:
        r["origin"] = "raw_variant"
    return out


# --- third pass (issue 18): sides that are eyes' and sides that are not. Pools written for
# training only: per-eye naming with single letters and RE/LE, and the sides of paws, hands,
# ears, breasts, kidneys and leaves in otherwise wordless records.
_EYE_SIDE_PATTERNS = [
    ("{p}_R.jpg", "{p}_L.jpg"), ("{p}-R.png", "{p}-L.png"), ("R_{p}.tif", "L_{p}.tif"), ("RE_{p}.jpg", "LE_{p}.jpg"),
    ("{p}_RE.png", "{p}_LE.png"), ("{p}.RE.jpeg", "{p}.LE.jpeg"), ("{p}R.jpg", "{p}L.jpg"), ("{p}_right.png", "{p}_left.png"),
]
_ORGAN_SIDE_PATTERNS = [
    "{a}_{p}_{s}_paw.jpg", "{s}_hand_{p}.png", "{p}_{s}_ear.jpg", "{p}_{s}_foot.png", "P_{p}_{S}_CC.png", "P_{p}_{S}_MLO.png",
    "{p}_{s}_kidney.png", "leaf_{p}_{s}.jpg", "{a}_{p}_{s}_wing.tif", "{p}_{s}_knee.png", "{p}_{S}_hip.jpg", "{s}_hemisphere_{p}.tif",
]
_ORGAN_LINES = ["", "", "Photographs.", "Raw images.", "Images for the analysis.", "Footpad photographs of rats after injury.",
                "Hand photographs for the grip study.", "Otoscope photographs of children.", "Leaf scans for trait measurement.",
                "Screening mammograms (processed).", "Drosophila wing images."]


def side_variants(seed: int = 31) -> list[dict[str, Any]]:
    """Seeded records whose only eye evidence is a side in the image names (``case01_R.jpg``,
    ``RE_017.jpg``), and negatives whose sides belong to paws, hands, ears, breasts, kidneys,
    knees, wings or leaves (file-evidence and terse-title kinds, training split only)."""
    import random

    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    titles = _VAGUE + ["Raw data", "Images", "Dataset", "Reading study", "Study images", "Export"]
    for i in range(28):
        pair = rng.choice(_EYE_SIDE_PATTERNS)
        stems = [f"{rng.choice(['case', 'P', 'S', 'pt', ''])}{rng.randint(1, 400):03d}" for _ in range(rng.randint(2, 5))]
        category = "raw_file_evidence" if i % 2 else "raw_terse_title"
        title = rng.choice(titles) if category == "raw_file_evidence" else rng.choice(_TERSE_ANY).format(
            u=rng.choice(_USERS), n=rng.randint(10, 9999), v=rng.randint(1, 4))
        if i % 3 == 2:  # inside an archive: one sample name per side
            n = rng.choice([120, 600, 2400])
            ext = "." + pair[0].rsplit(".", 1)[1].lower()
            out.append(rec(category, E, "train", rng.choice(["zenodo", "figshare", "kaggle"]), title, rng.choice(["", "Images."]),
                           files=[f"images.zip:{n * 2500000}"],
                           archives=[arc("images.zip", {ext: n}, [f"images/{pair[0].format(p=stems[0])}", f"images/{pair[1].format(p=stems[0])}"],
                                         [img(ext.lstrip(".").replace("jpg", "jpeg").replace("tif", "tiff"), 2048, 1536)])]))
        else:
            names = [side.format(p=s) for s in stems for side in pair] + [rng.choice(["grades.csv", "readers.xlsx", "README.txt"])]
            out.append(rec(category, E, "train", rng.choice(["osf", "zenodo", "figshare"]), title, "", files=names))
    for i in range(28):
        pattern = rng.choice(_ORGAN_SIDE_PATTERNS)
        category = "raw_file_evidence" if i % 2 else "raw_terse_title"
        title = rng.choice(titles) if category == "raw_file_evidence" else rng.choice(_TERSE_ANY).format(
            u=rng.choice(_USERS), n=rng.randint(10, 9999), v=rng.randint(1, 4))

        def name(p: int, side: str, pattern: str = pattern) -> str:
            return pattern.format(a=rng.choice(["rat", "mouse", "m", "fly", "s"]), p=f"{p:03d}", s=side, S=side.upper())

        stems = [rng.randint(1, 400) for _ in range(rng.randint(2, 4))]
        line = rng.choice(_ORGAN_LINES)
        if i % 3 == 2:
            n = rng.choice([200, 640, 3000])
            ext = "." + pattern.rsplit(".", 1)[1].lower()
            out.append(rec(category, N, "train", rng.choice(["zenodo", "figshare", "kaggle"]), title, line,
                           files=[f"images.zip:{n * 1500000}"],
                           archives=[arc("images.zip", {ext: n}, [f"images/{name(stems[0], 'left')}", f"images/{name(stems[0], 'right')}"],
                                         [img(ext.lstrip(".").replace("jpg", "jpeg").replace("tif", "tiff"), 4000, 3000)])]))
        else:
            names = [name(s, side) for s in stems for side in ("left", "right")] + [rng.choice(["measurements.csv", "scores.xlsx"])]
            out.append(rec(category, N, "train", rng.choice(["osf", "zenodo", "figshare"]), title, line, files=names))
    for r in out:
        r["origin"] = "raw_variant"
    return out


# --- third pass (issue 18): known dataset names (assets/dataset_names.txt). Terse records named
# after well-known public datasets -- eye-imaging ones as positives, medical-looking non-eye ones
# as negatives -- so the head learns the "known dataset name" features. A quarter of the listed
# datasets never appear in training: every name found in a held-out set (below, found by running
# the matcher over raw_heldout.jsonl and today's test split: 28 datasets) and 9 % of the others,
# chosen by a hash (11) -- 39 of 150; their records (``withheld=True``) measure whether the feature
# generalises beyond memorised titles.
_NAMES_IN_HELD_OUT_SETS = frozenset({
    "APTOS", "AROI", "BraTS", "CBIS-DDSM", "ChestX-ray14", "DRISHTI-GS", "Duke DME", "EchoNet", "HAM10000", "ISIC",
    "JSIEC", "Kvasir", "LIDC-IDRI", "MMC-AMD", "OCT2017", "OCTDL", "ODIR", "ORIGA", "RFMiD", "RIM-ONE", "SMDG", "TCGA",
    "DRIVE", "FIVES", "GAMMA", "HRF", "OLIVES", "ROSE",
})
_EXTRA_WITHHELD_SHARE = 0.09
_NAME_LINES = ["", "", "", "Release 1.", "Version 2.", "Training and test subsets.", "Images and labels.", "Official release.",
               "Mirror of the public release.", "Images with annotations.", "Challenge data.", "Train / validation / test."]
_NAME_TITLES = ["{name}", "{name}", "{name} dataset", "{u}/{slug}", "{name} v{v}", "{name}_{year}", "{name} (mirror)",
                "{name} images", "{u}/{slug}-{year}"]
_NAME_FILES = [("{slug}.zip", ".png"), ("{slug}_images.zip", ".jpg"), ("{slug}.tar.gz", ".tif"), ("{slug}-data.zip", ".jpeg"),
               ("{slug}.zip", ".mat"), ("{slug}_train.zip", ".png")]
_WORD_TRAPS = [("Drive-thru queue photos", "drive_thru.zip", "cars"), ("Stared-at faces", "faces.zip", "faces"),
               ("rose garden photographs", "roses.zip", "roses"), ("palm images for biometrics", "palms.zip", "palm"),
               ("forest fire images", "fire.zip", "smoke"), ("gamma spectra", "spectra.zip", "spec"),
               ("chase camera stills", "chase.zip", "frame"), ("refuge habitat photos", "refuge.zip", "site")]


def dataset_entries() -> list[tuple[str, list[str]]]:
    """(kind, spellings) per dataset of the packaged names list, spellings as written."""
    from importlib.resources import files

    text = files("envision_spiders.classifier").joinpath("assets/dataset_names.txt").read_text(encoding="utf-8")
    entries = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            kind, *spellings = (p.strip() for p in line.split("|"))
            entries.append((kind, spellings))
    return entries


def withheld_dataset(spellings: list[str]) -> bool:
    """Whether a listed dataset is kept out of training (named in a held-out set, or in the hashed
    quarter)."""
    import hashlib

    first = spellings[0].lstrip("~!")
    if first in _NAMES_IN_HELD_OUT_SETS:
        return True
    return int(hashlib.sha1(first.encode()).hexdigest()[:8], 16) / 16**8 < _EXTRA_WITHHELD_SHARE


def known_name_variants(seed: int = 37, withheld: bool = False) -> list[dict[str, Any]]:
    """Seeded terse / file-evidence records named after listed datasets (training split), or with
    ``withheld=True`` after the datasets kept out of training (a check set, never trained on)."""
    import random

    rng = random.Random(seed + (1000 if withheld else 0))
    out: list[dict[str, Any]] = []
    for kind, spellings in dataset_entries():
        if withheld_dataset(spellings) != withheld:
            continue
        eye = kind == "eye"
        usable = [sp for sp in spellings if not sp.startswith("!")]
        for k in range(2 if usable else 1):
            raw_name = rng.choice(usable or spellings)
            name = raw_name.lstrip("~!")
            # an English-word name keeps its case in slugs and file names ("REFUGE-data.zip"), or
            # nothing could tell it from the word
            words = re.findall(r"[A-Za-z0-9]+", name)
            slug = "-".join(words if raw_name.startswith("~") else [t.lower() for t in words])
            fill = {"name": name, "slug": slug, "u": rng.choice(_USERS), "v": rng.randint(1, 4), "year": rng.choice([2018, 2020, 2021, 2023])}
            pattern = rng.choice(_NAME_TITLES)
            if raw_name.startswith("!") and "dataset" not in pattern and "images" not in pattern:
                pattern = "{name} dataset"  # an ambiguous name says "dataset" next to it or nothing
            if raw_name.startswith("!") and "images" in pattern:
                pattern = "{name} challenge"
            title = pattern.format(**fill)
            archive_name, ext = rng.choice(_NAME_FILES)
            archive_name = archive_name.format(**fill)
            n = rng.choice([100, 400, 1200, 5000])
            category = "raw_file_evidence" if k == 1 else "raw_terse_title"
            if category == "raw_file_evidence":
                title = rng.choice(_VAGUE + ["Data", "Images", "Export"])
            sample = f"{slug}/{rng.choice(['train', 'images', 'data', 'test'])}/{rng.randint(1, 9999):04d}{ext}"
            images = [img(ext.lstrip(".").replace("jpg", "jpeg").replace("tif", "tiff"), *rng.choice([(2048, 1536), (1024, 1024), (512, 512)]))] if ext != ".mat" else []
            out.append(rec(category, E if eye else N, "check" if withheld else "train", rng.choice(["kaggle", "zenodo", "figshare", "osf"]),
                           title, rng.choice(_NAME_LINES), files=[f"{archive_name}:{n * 400000}"],
                           archives=[arc(archive_name, {ext: n}, [sample], images)]))
    if not withheld:
        for title, archive_name, stem in _WORD_TRAPS:
            out.append(rec("raw_terse_title", N, "train", rng.choice(["kaggle", "zenodo"]), title, "",
                           files=[f"{archive_name}:{rng.randint(10**7, 10**9)}"],
                           archives=[arc(archive_name, {".jpg": rng.randint(100, 3000)}, [f"{stem}/{rng.randint(1, 999):03d}.jpg"], [img("jpeg", 1600, 1200)])]))
    for r in out:
        r["origin"] = "raw_variant"
    return out


# --- fourth pass (issue 18): what a curator reads in a wordless archive. Pools written for
# training only, from public facts about instruments and datasets: OCT B-scan and volume sizes,
# OCT-angiography en-face sizes, class folders of eye-disease datasets; and, as negatives,
# radiograph-sized grey images, histology / natural-image tiles, class folders of other
# diseases, eye-ish words that name other things (spinal discs, coronary angiograms, pine
# cones), OCT of further non-eye sites, and retina omics / histology whose text says "OCT
# compound" or whose sample names carry an eye's side.
_OCT_SIZES = [(512, 496), (768, 496), (1024, 496), (1536, 496), (512, 885), (512, 650), (512, 1024), (200, 1024), (1000, 512)]
_OCTA_SIDES = [304, 320, 400, 420]
_GENERIC_SAMPLES = ["images/{h}.png", "{i:05d}.tif", "data/img_{i:04d}.png", "raw/{i}.bmp", "scan_{i:04d}.tif", "export/{h}.jpg",
                    "train/{h}.jpeg", "set1/{i:04d}.png"]
_EYE_CLASS_LAYOUTS = [["CNV", "DME", "DRUSEN", "NORMAL"], ["0_no_DR", "1_mild_NPDR", "PDR"], ["glaucoma", "normal"],
                      ["cataract", "glaucoma", "normal", "diabetic_retinopathy"], ["AMD", "PCV", "normal"], ["CSC", "RVO", "MH", "ERM"],
                      ["keratoconus", "normal"], ["pterygium", "normal"], ["myopia", "normal", "glaucoma"], ["ROP", "normal"],
                      ["wet_AMD", "dry_AMD", "normal"], ["retinitis_pigmentosa", "Stargardt", "normal"]]
_NON_EYE_CLASS_LAYOUTS = [["NORMAL", "PNEUMONIA"], ["COVID", "normal", "pneumonia"], ["benign", "malignant"], ["melanoma", "nevus"],
                          ["glioma", "meningioma", "pituitary", "no_tumor"], ["Tuberculosis", "Normal"], ["polyps", "normal"],
                          ["fractured", "not_fractured"], ["healthy_leaf", "blight", "rust"], ["cats", "dogs"], ["effusion", "nodule"]]
_WEAK_NAME_TRAPS = [  # (sample path, text, image)
    ("disc/L4_L5_{i:03d}.png", "Lumbar spine MR slices with intervertebral disc labels.", ("png", 512, 512, 1)),
    ("angio/LAD_{i:03d}.png", "Coronary angiography frames.", ("png", 512, 512, 1)),
    ("cones/{i:04d}.jpg", "Photographs of pine cones for seed counting.", ("jpeg", 4000, 3000, 3)),
    ("endothelial/{i:04d}.tif", "HUVEC endothelial cell monolayers under shear stress.", ("tiff", 1344, 1024, 1)),
    ("slit/{i:04d}.png", "Double-slit interference patterns.", ("png", 1280, 1024, 1)),
    ("superficial/{i:04d}.png", "Superficial wound photographs for healing scores.", ("png", 1600, 1200, 3)),
]
_NON_EYE_OCT = ["articular cartilage of the knee", "fingernails", "the gastric mucosa", "chronic wounds", "the larynx",
                "thyroid nodules", "mouse brain slices", "ripening fruit", "polymer coatings", "pharmaceutical tablet coatings",
                "lymph nodes", "the cerebral cortex of rats"]
_COMPOUND_LINES = [
    "Eyes were fixed, embedded in OCT compound and cryosectioned before {a}.",
    "Retinas were frozen in O.C.T. medium; sections were used for {a}.",
    "Tissue was embedded in Tissue-Tek OCT and sectioned at 12 µm for {a}.",
    "Posterior eyecups were cryoprotected and embedded in optimal cutting temperature compound prior to {a}.",
]
_ASSAYS = ["laser-capture microdissection and RNA-seq", "spatial transcriptomics", "qPCR of inflammatory genes",
           "mass spectrometry imaging of lipids", "in situ hybridisation counts", "western blot quantification"]


def archive_evidence_variants(seed: int = 43) -> list[dict[str, Any]]:
    """Seeded records whose evidence is the geometry of the sniffed images, class folders, or
    eye-ish words that name other things; and non-eye OCT / retina omics negatives of the shapes
    the third pass could let through (training split only)."""
    import random

    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    s = "train"

    def title(kind: str) -> str:
        if kind == "raw_file_evidence":
            return rng.choice(_VAGUE + ["Raw data", "Images", "Export", "Archive", "Study data", "Image set"])
        return rng.choice(_TERSE_ANY).format(u=rng.choice(_USERS), n=rng.randint(10, 9999), v=rng.randint(1, 4))

    def sample(pattern: str | None = None) -> str:
        h = "".join(rng.choice("0123456789abcdef") for _ in range(12))
        return (pattern or rng.choice(_GENERIC_SAMPLES)).format(i=rng.randint(1, 9999), h=h)

    def archive_record(kind: str, label: str, samples: list[str], image: dict[str, Any], line: str = "") -> dict[str, Any]:
        n = rng.choice([96, 400, 1200, 4800, 20000])
        ext = "." + samples[0].rsplit(".", 1)[1].lower()
        name = rng.choice(["data.zip", "images.zip", "export.tar.gz", "archive.zip"])
        return rec(kind, label, s, rng.choice(["zenodo", "figshare", "kaggle", "osf"]), title(kind),
                   line or rng.choice(["", "", "Raw data.", "Version 2.", LICENCE]), files=[f"{name}:{n * 300000}"],
                   archives=[arc(name, {ext: n}, samples, [image])])

    fmt_of = {".png": "png", ".tif": "tiff", ".bmp": "bmp", ".jpg": "jpeg", ".jpeg": "jpeg"}
    for kind in ("raw_file_evidence", "raw_terse_title"):
        for _ in range(10):  # grey B-scans and volumes at scanner sizes, generic names
            w, h = rng.choice(_OCT_SIZES)
            name = sample()
            frames = rng.choice([None, None, 49, 97, 128]) if name.endswith(".tif") else None
            out.append(archive_record(kind, E, [name], img(fmt_of["." + name.rsplit(".", 1)[1]], w, h, frames=frames,
                                                           channels=rng.choice([1, 1, None]))))
        for _ in range(4):  # OCT-angiography en-face squares
            side = rng.choice(_OCTA_SIDES)
            name = sample(rng.choice(["images/{h}.png", "{i:05d}.bmp", "data/img_{i:04d}.png"]))
            out.append(archive_record(kind, E, [name], img(fmt_of["." + name.rsplit(".", 1)[1]], side, side, channels=rng.choice([1, None]))))
        for _ in range(8):  # eye-disease class folders, ordinary photo or scan sizes
            layout = rng.choice(_EYE_CLASS_LAYOUTS)
            stem = rng.choice(["", "train/", "dataset/test/", "data/"])
            ext = rng.choice([".jpg", ".png", ".jpeg"])
            names = [f"{stem}{c}/{sample('{h}')}{ext}" for c in rng.sample(layout, min(len(layout), rng.randint(2, 3)))]
            size = rng.choice([(2048, 1536, 3), (1024, 1024, 3), (3216, 2136, 3), (512, 512, 3), (1444, 1444, 3)])
            out.append(archive_record(kind, E, names, img(fmt_of[ext], size[0], size[1], channels=size[2])))
        for _ in range(6):  # radiograph-sized grey images
            name = sample(rng.choice(["images/{h}.png", "{i:05d}.png", "data/img_{i:04d}.jpg", "train/{h}.jpeg"]))
            w = rng.choice([1600, 2048, 2500, 2828, 3000])
            h = rng.choice([w, int(w * 0.82), int(w * 1.22)])
            out.append(archive_record(kind, N, [name], img(fmt_of["." + name.rsplit(".", 1)[1]], w, h, channels=1)))
        for _ in range(5):  # histology / natural-image tiles
            side = rng.choice([50, 96, 150, 224, 256, 299])
            name = sample(rng.choice(["tiles/{h}.png", "patches/{i:05d}.png", "train/{h}.jpg", "{i:05d}.tif"]))
            out.append(archive_record(kind, N, [name], img(fmt_of["." + name.rsplit(".", 1)[1]], side, side, channels=3)))
        for _ in range(7):  # other diseases' class folders
            layout = rng.choice(_NON_EYE_CLASS_LAYOUTS)
            ext = rng.choice([".jpg", ".png", ".jpeg"])
            names = [f"{rng.choice(['', 'train/', 'data/'])}{c}/{sample('{h}')}{ext}" for c in layout[:3]]
            size = rng.choice([(1024, 1024, 3), (600, 450, 3), (2048, 1536, 3), (512, 512, 1), (1800, 1500, 1)])
            out.append(archive_record(kind, N, names, img(fmt_of[ext], size[0], size[1], channels=size[2])))
        for i in range(3):  # eye-ish words that name other things
            pattern, line, (fmt, w, h, ch) = _WEAK_NAME_TRAPS[(i + (kind == "raw_terse_title") * 3) % len(_WEAK_NAME_TRAPS)]
            out.append(archive_record(kind, N, [sample(pattern)], img(fmt, w, h, channels=ch), line=rng.choice([line, line, ""])))
        for i in range(4):  # ordinary colour photo sizes, generic names: nothing to read (one in four of the eye)
            name = sample(rng.choice(["images/{h}.jpg", "IMG_{i:04d}.JPG", "{i:05d}.jpg", "photos/{h}.png"]))
            size = rng.choice([(2048, 1536), (3000, 2000), (1600, 1200), (2592, 1728)])
            out.append(archive_record(kind, E if i == 0 else N, [name], img(fmt_of["." + name.rsplit(".", 1)[1].lower()], *size, channels=3)))
    # non-eye OCT at further sites: B-scan-like sizes, the text names the site
    for site in _NON_EYE_OCT:
        w, h = rng.choice([(1024, 512), (512, 1024), (1000, 512), (2048, 1024)])
        desc = rng.choice([f"Optical coherence tomography of {site}.", f"OCT B-scans of {site} acquired with a swept-source system.",
                           f"Spectral-domain OCT volumes of {site}; each volume has 128 B-scans."])
        name = rng.choice(["oct.zip", "bscans.zip", "volumes.zip"])
        out.append(rec("raw_non_eye_oct_omics", N, s, rng.choice(["zenodo", "figshare", "dryad"]),
                       rng.choice([f"OCT of {site}", "OCT data", f"Imaging {site}", "Raw B-scans"]), desc,
                       files=[f"{name}:{rng.randint(10**8, 10**10)}"],
                       archives=[arc(name, {".png": rng.choice([300, 1280, 5000])}, [f"scans/{rng.randint(1, 999):03d}.png"],
                                     [img("png", w, h, channels=1)])]))
    # retina histology / omics whose methods say "OCT compound", or whose sample names carry a side
    for i in range(10):
        animal = rng.choice(_ANIMALS)
        assay = rng.choice(_ASSAYS)
        line = rng.choice(_COMPOUND_LINES).format(a=assay)
        if i % 2:
            files = [f"{animal}{k}_{side}_retina.fastq.gz" for k in range(1, 4) for side in ("OD", "OS")] + ["counts.tsv"]
        else:
            files = rng.choice([["counts.tsv", "metadata.csv"], ["lipids.xlsx"], ["blots.pdf", "quantification.xlsx"], ["cq_values.csv"]])
        out.append(rec("raw_non_eye_oct_omics", N, s, rng.choice(["zenodo", "figshare", "dryad", "geo"]),
                       rng.choice([f"Retina {assay} in {animal} models", f"Data from: retinal degeneration in {animal}", "Retina sections data"]),
                       f"{line} Data are provided as tables.", files=files))
    # and retinal OCT of the same shapes as positives, so that geometry and "OCT" keep their meaning for eyes
    for _ in range(6):
        w, h = rng.choice(_OCT_SIZES)
        name = rng.choice(["oct.zip", "bscans.zip", "volumes.zip"])
        out.append(rec("raw_non_eye_oct_omics", E, s, rng.choice(["zenodo", "figshare", "dryad"]),
                       rng.choice(["OCT data", "Raw B-scans", f"Retinal OCT in {rng.choice(_ANIMALS)}s"]),
                       rng.choice(["Spectral-domain OCT of the macula.", "OCT volumes centred on the fovea.", "Retinal B-scans from a clinical OCT."]),
                       files=[f"{name}:{rng.randint(10**8, 10**10)}"],
                       archives=[arc(name, {".png": rng.choice([300, 1280, 5000])}, [f"scans/{rng.randint(1, 999):03d}.png"],
                                     [img("png", w, h, channels=1)])]))
    # eye DICOM of measurements (a perimeter's visual fields, a biometer's axial lengths) under
    # the same eye-side names as the ophthalmic images beside them: the modality decides
    measurement_exports = [("OPV", "HFA_24-2_{s}_{i:04d}.dcm"), ("OPV", "{p}/VF_{s}_30-2_{k}.dcm"), ("OAM", "biometry/{h}_{s}.dcm"),
                           ("OAM", "IOLMaster_{p}_{s}.dcm"), ("KER", "topo/{p}_{s}_ker.dcm"), ("OPV", "exports/{p}/{s}_SITA_{k}.dcm")]
    image_exports = [("OP", "fundus/{p}_{s}_{k}.dcm"), ("OPT", "{p}/OCT_{s}_{k}.dcm"), ("OP", "export/{h}_{s}.dcm"),
                     ("OPT", "volumes/{p}_{s}.dcm"), ("OP", "{p}/{s}_color_{k}.dcm"), ("OPTENF", "{p}/angio_{s}_{k}.dcm")]
    for kind in ("raw_file_evidence", "raw_terse_title"):
        for label, exports in ((N, measurement_exports), (E, image_exports)):
            for modality, pattern in exports:
                names = [pattern.format(s=side, i=rng.randint(1, 999), p=f"P{rng.randint(1, 300):03d}", k=rng.randint(1, 4),
                                        h=sample("{h}")) for side in ("OD", "OS")]
                size = (None, None) if label == N else rng.choice([(2000, 2000), (768, 496), (3900, 3072), (512, 1024)])
                out.append(archive_record(kind, label, names, img("dicom", *size, modality=modality, body=rng.choice(["EYE", None]))))
        for _ in range(4):  # more histology / natural-image tiles: small squares say nothing of an eye
            side = rng.choice([64, 128, 224, 256, 299, 512])
            name = sample(rng.choice(["tiles/{h}.png", "patches/{i:05d}.png", "train/{h}.jpg", "{i:05d}.tif"]))
            out.append(archive_record(kind, N, [name], img(fmt_of["." + name.rsplit(".", 1)[1]], side, side, channels=3)))
        for _ in range(10):  # and more grey B-scans at scanner sizes: the other writers' sets have few wordless ones
            w, h = rng.choice(_OCT_SIZES)
            name = sample()
            out.append(archive_record(kind, E, [name], img(fmt_of["." + name.rsplit(".", 1)[1]], w, h, channels=rng.choice([1, 1, None]))))
        for _ in range(4):  # and more radiograph-sized grey images: the wordless grey eye images of ten more
            # writers' sets (iris, infrared, confocal) had pulled a wordless radiograph archive up to 0.13
            name = sample(rng.choice(["images/{h}.png", "{i:05d}.png", "data/img_{i:04d}.jpg", "train/{h}.jpeg"]))
            w = rng.choice([2048, 2500, 2828, 3000, 3520])
            h = rng.choice([w, int(w * 0.82), int(w * 1.22)])
            out.append(archive_record(kind, N, [name], img(fmt_of["." + name.rsplit(".", 1)[1]], w, h, channels=1)))
    for r in out:
        r["origin"] = "raw_variant"
    return out
