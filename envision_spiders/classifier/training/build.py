"""Build ``records.jsonl`` from the hand-written core (``core.txt``) plus template variants.

    python -m envision_spiders.classifier.training.build

The core holds real dataset titles with descriptions in our own words. The variants are
generated from sentence pools (deterministic, seeded) to give the head longer,
repository-like descriptions with shared boilerplate, file evidence, and many hard
negatives. Every record gets a ``split`` (about a quarter of each category is ``test``,
never trained on) and an ``origin`` (``core``, ``template``, ``raw`` or ``raw_variant``: records shaped
like raw repository harvests, ``raw.py``, whose held-out half is written to ``raw_heldout.jsonl``;
there ``raw_fresh`` and ``raw_fresh2`` mark the two later held-out sets of the short kinds), plus the
development sets (``DEVELOPMENT_SETS``: ``raw_fresh3``-``raw_fresh66``), trained on whole.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import jsonlines

from envision_spiders.classifier.training.raw import raw_records

HERE = Path(__file__).parent
RAW_HELDOUT = "raw_heldout.jsonl"
# sets of raw records written by engineers who had not seen the classifier: some first scored blind
# and then read while features were developed, some written to be trained on; none is blind, all are
# trained on (whole: their ``origin`` names the writer's set, which the head's calibration holds out
# in turn). The blind sets are the other raw_fresh*.jsonl files.
DEVELOPMENT_SETS = (
    "raw_fresh3.jsonl", "raw_fresh4.jsonl", "raw_fresh5.jsonl", "raw_fresh6.jsonl", "raw_fresh7.jsonl", "raw_fresh8.jsonl",
    "raw_fresh11.jsonl", "raw_fresh12.jsonl", "raw_fresh15.jsonl", "raw_fresh16.jsonl", "raw_fresh17.jsonl",
    "raw_fresh18.jsonl", "raw_fresh19.jsonl", "raw_fresh20.jsonl", "raw_fresh21.jsonl", "raw_fresh22.jsonl",
    "raw_fresh23.jsonl", "raw_fresh24.jsonl", "raw_fresh25.jsonl", "raw_fresh26.jsonl", "raw_fresh27.jsonl",
    "raw_fresh28.jsonl", "raw_fresh9.jsonl", "raw_fresh10.jsonl", "raw_fresh13.jsonl", "raw_fresh14.jsonl",
    "raw_fresh29.jsonl", "raw_fresh30.jsonl", "raw_fresh31.jsonl", "raw_fresh32.jsonl", "raw_fresh37.jsonl",
    "raw_fresh38.jsonl", "raw_fresh33.jsonl", "raw_fresh34.jsonl", "raw_fresh35.jsonl", "raw_fresh36.jsonl",
    "raw_fresh39.jsonl", "raw_fresh40.jsonl", "raw_fresh41.jsonl", "raw_fresh42.jsonl", "raw_fresh43.jsonl",
    "raw_fresh44.jsonl", "raw_fresh45.jsonl", "raw_fresh46.jsonl", "raw_fresh47.jsonl", "raw_fresh48.jsonl",
    "raw_fresh49.jsonl", "raw_fresh50.jsonl", "raw_fresh51.jsonl", "raw_fresh52.jsonl", "raw_fresh53.jsonl",
    "raw_fresh54.jsonl", "raw_fresh55.jsonl", "raw_fresh56.jsonl", "raw_fresh57.jsonl", "raw_fresh58.jsonl",
    "raw_fresh59.jsonl", "raw_fresh60.jsonl", "raw_fresh61.jsonl", "raw_fresh62.jsonl", "raw_fresh63.jsonl",
    "raw_fresh64.jsonl", "raw_fresh65.jsonl", "raw_fresh66.jsonl",
)
TEST_SHARE = 0.25

BOILERPLATE = [
    "This record accompanies a manuscript currently under review; please cite the article when using the data.",
    "Data are shared under a Creative Commons Attribution 4.0 licence.",
    "The study followed the tenets of the Declaration of Helsinki and was approved by the local ethics committee.",
    "Questions about the data can be sent to the corresponding author.",
    "All personal identifiers were removed before publication.",
    "A README file describes the folder structure and the naming of the files.",
    "This work was supported by national research funding.",
    "Version 2 fixes several file naming errors reported by users.",
    "Informed consent was obtained from all participants or their guardians.",
    "The data were collected between 2015 and 2021 at a tertiary referral centre.",
    "Use of the data for commercial purposes requires permission from the authors.",
    "Further details on the methods are given in the associated publication.",
]

DISEASES = [
    "diabetic retinopathy", "glaucoma", "age-related macular degeneration", "diabetic macular edema",
    "retinal vein occlusion", "retinitis pigmentosa", "keratoconus", "myopia", "cataract", "uveitis",
    "retinopathy of prematurity", "central serous chorioretinopathy", "dry eye disease", "Stargardt disease",
    "optic neuritis", "macular hole", "epiretinal membrane", "pathologic myopia", "hypertensive retinopathy",
]
DEVICES = [
    "a Topcon TRC-NW8 fundus camera", "a Heidelberg Spectralis OCT", "a Zeiss Cirrus HD-OCT 5000",
    "an Optovue RTVue XR Avanti", "an Optos California ultra-widefield system", "a Canon CR-2 non-mydriatic camera",
    "a Zeiss Visucam 500", "a Topcon DRI OCT Triton swept-source device", "a Nidek AFC-330 camera",
    "a portable handheld fundus camera", "a smartphone with a fundus adapter", "a Haag-Streit slit lamp with a digital camera",
]
COUNTRIES = ["China", "India", "Brazil", "Spain", "Germany", "the Netherlands", "Nigeria", "Iraq", "Paraguay",
             "Australia", "the United States", "Saudi Arabia", "Korea", "Japan", "Pakistan", "Portugal", "Mexico"]

POS_MODALITIES: dict[str, dict[str, Any]] = {
    "fundus": {
        "titles": ["{d} fundus image dataset", "Retinal fundus photographs for {d} screening",
                   "A colour fundus image dataset for {d} classification", "{C} fundus photograph collection: {d}",
                   "Fundus images with {d} annotations", "Retinal images for automated {d} detection",
                   "Labelled retinography dataset of {d}"],
        "content": ["The dataset contains {n} colour fundus photographs of {d} patients and healthy controls.",
                    "We provide {n} retinal fundus images centred on the macula, each labelled by two ophthalmologists.",
                    "Images were captured with {dev} after pupil dilation and stored as JPEG files.",
                    "Each fundus photograph is accompanied by a grade of {d} severity and optic disc localisation.",
                    "Pixel-level masks of lesions such as haemorrhages and exudates are provided for a subset of the images."],
        "files": (["fundus_images.zip", "labels.csv"], {".jpg": 1200, ".csv": 1}, ["images/IM000123.jpg", "images/IM000124.jpg"]),
    },
    "oct": {
        "titles": ["OCT B-scan dataset of {d}", "Optical coherence tomography volumes in {d}",
                   "Retinal OCT image dataset for {d} segmentation", "{C} OCT dataset: {d} and normal eyes",
                   "Annotated spectral-domain OCT scans of {d}", "Macular OCT images for {d} classification"],
        "content": ["The dataset includes {n} OCT B-scans from patients with {d} and healthy subjects.",
                    "Volumetric OCT scans were acquired with {dev} using a 6x6 mm macular cube protocol.",
                    "Retinal layer boundaries and fluid regions were manually annotated on every B-scan.",
                    "Scans are exported as PNG images, one folder per eye, with a spreadsheet of diagnoses.",
                    "Each volume contains 49 to 128 cross-sectional images of the macula."],
        "files": (["OCT_scans.zip", "diagnoses.xlsx"], {".png": 812, ".xlsx": 1}, ["OCT_scans/NORMAL-001.png", "OCT_scans/DME-017.png"]),
    },
    "octa": {
        "titles": ["OCT angiography images in {d}", "OCTA dataset of the superficial and deep capillary plexus in {d}",
                   "Optical coherence tomography angiography scans for {d} analysis"],
        "content": ["We share {n} OCTA en face angiograms of 3x3 mm and 6x6 mm fields acquired with {dev}.",
                    "Vessel density and foveal avascular zone masks were drawn for each OCTA image.",
                    "The OCTA volumes and projection maps are given as TIFF stacks."],
        "files": (["OCTA_images.zip"], {".tif": 640}, ["OCTA/superficial_001.tif", "OCTA/deep_001.tif"]),
    },
    "angiography": {
        "titles": ["Fluorescein angiography images of {d}", "Retinal angiography dataset for {d}",
                   "Paired fundus and fluorescein angiogram images in {d}"],
        "content": ["The collection holds {n} fluorescein angiography frames from early, mid and late phases.",
                    "Angiograms were recorded with {dev} and annotated for leakage and non-perfusion.",
                    "Indocyanine green angiography sequences are included for a subset of eyes."],
        "files": (["FA_images.zip"], {".png": 300}, ["FA/patient01_early.png", "FA/patient01_late.png"]),
    },
    "anterior_segment": {
        "titles": ["Slit-lamp photographs of {d}", "Anterior segment images for {d} grading",
                   "Eye photographs for automated {d} diagnosis", "Anterior segment OCT images in {d}"],
        "content": ["We collected {n} slit-lamp images of the anterior segment using {dev}.",
                    "Photographs of the cornea, lens and conjunctiva were graded by two cornea specialists.",
                    "Diffuse and slit-beam illumination images are provided for each eye."],
        "files": (["slitlamp_photos.zip"], {".jpg": 450}, ["slitlamp/eye_0001.jpg", "slitlamp/eye_0002.jpg"]),
    },
    "cornea": {
        "titles": ["Corneal confocal microscopy images in {d}", "Corneal topography maps of {d} eyes",
                   "In vivo confocal microscopy of the cornea: {d}"],
        "content": ["The dataset contains {n} in vivo confocal microscopy images of the corneal sub-basal nerve plexus.",
                    "Scheimpflug tomography maps were exported as images for each eye.",
                    "Nerve fibres were traced manually to provide segmentation ground truth."],
        "files": (["IVCM_images.zip"], {".tif": 380}, ["IVCM/subject01_img01.tif"]),
    },
    "animal_retina": {
        "titles": ["In vivo retinal imaging of {a} with {d}-like degeneration", "OCT and fundus images of {a} retina",
                   "Retinal images of {a} in a model of {d}"],
        "content": ["We imaged the retina of {a} in vivo with OCT and confocal scanning laser ophthalmoscopy at several time points.",
                    "The image files show retinal thinning and vascular changes over {n} days.",
                    "Retinal flat-mounts were imaged by confocal microscopy after immunostaining."],
        "files": (["retina_images.zip"], {".tif": 220}, ["mouse12_OD_day7.tif"]),
    },
}
ANIMALS = ["mice", "rats", "zebrafish", "rabbits", "dogs", "macaques", "pigs"]

NEG_EYE_DATA: dict[str, dict[str, Any]] = {
    "hard_neg_visual_field": {
        "titles": ["Visual field test results in {d}", "Perimetry data of patients with {d}",
                   "Standard automated perimetry series in {d}", "Data from: visual field progression in {d}"],
        "content": ["The dataset provides Humphrey 24-2 threshold values and global indices for {n} eyes with {d}.",
                    "Visual field tests were repeated every six months; sensitivities are given per test location in CSV files.",
                    "Mean deviation, pattern standard deviation and reliability indices are reported for each test.",
                    "No images or scans are part of this dataset."],
        "files": (["visual_fields.csv", "README.txt"], None, None),
    },
    "hard_neg_acuity": {
        "titles": ["Visual acuity outcomes in {d}", "Best-corrected visual acuity and refraction data in {d}",
                   "Data from: functional vision outcomes in {d}"],
        "content": ["We report best-corrected visual acuity in logMAR for {n} patients with {d} over two years.",
                    "Refraction, intraocular pressure and acuity were measured at each visit and are tabulated in a spreadsheet.",
                    "Contrast sensitivity was tested with Pelli-Robson charts."],
        "files": (["acuity_outcomes.xlsx"], None, None),
    },
    "hard_neg_questionnaire": {
        "titles": ["Quality of life questionnaire data in {d}", "Survey responses of patients with {d}",
                   "Patient-reported outcomes in {d}"],
        "content": ["The dataset contains anonymised questionnaire responses from {n} participants with {d}.",
                    "Vision-related quality of life was assessed with the NEI VFQ-25 and a symptom survey.",
                    "Responses are coded on Likert scales and provided as an SPSS file with a codebook."],
        "files": (["survey_responses.sav", "codebook.pdf"], None, None),
    },
    "hard_neg_eye_tracking": {
        "titles": ["Eye movement recordings in {d}", "Eye tracking dataset of reading in {d}",
                   "Gaze data during visual search", "Eye-tracking data of {n} participants watching videos"],
        "content": ["Eye movements were recorded with an EyeLink 1000 at 1000 Hz while participants performed the task.",
                    "The files contain raw gaze samples, detected fixations and saccades for each trial.",
                    "Pupil diameter and blink events are included in the tab-separated logs.",
                    "Stimuli are described in the accompanying paper but not redistributed."],
        "files": (["gaze_samples.tsv", "fixations.csv"], None, None),
    },
    "hard_neg_genomics": {
        "titles": ["Transcriptome of the retina in {d}", "Genetic variants associated with {d}",
                   "Single-cell sequencing of human eye tissue in {d}", "Whole-genome sequencing of families with {d}"],
        "content": ["We profiled gene expression in retinal tissue from {n} donors with RNA sequencing.",
                    "Raw reads are deposited as FASTQ files and processed count matrices are provided.",
                    "Association statistics for common variants are given for each chromosome.",
                    "Differentially expressed genes and pathway enrichment results are included as tables."],
        "files": (["counts_matrix.csv", "sample_sheet.tsv", "reads_R1.fastq.gz"], None, None),
    },
    "hard_neg_erg": {
        "titles": ["Electroretinography recordings in {d}", "ERG and VEP data of patients with {d}",
                   "Retinal electrophysiology in {a}"],
        "content": ["Full-field electroretinograms were recorded following ISCEV standards in {n} subjects.",
                    "Waveforms are provided as text files with a- and b-wave amplitudes and implicit times.",
                    "Pattern visual evoked potentials were recorded for each eye."],
        "files": (["erg_waveforms.zip", "amplitudes.csv"], {".txt": 300}, ["erg/subject01_scotopic.txt"]),
    },
    "hard_neg_clinical": {
        "titles": ["Clinical outcomes of treatment for {d}", "Risk factors for {d}: cohort data",
                   "Data from: a randomised trial in {d}", "Prevalence of {d} in {C}"],
        "content": ["This dataset contains de-identified clinical data of {n} patients with {d}.",
                    "Demographics, comorbidities, treatments and outcomes are coded in a single spreadsheet.",
                    "Statistical analysis scripts in R reproduce the tables of the paper.",
                    "Imaging was performed as part of routine care but images are not shared."],
        "files": (["clinical_data.xlsx", "analysis.R"], None, None),
    },
    "hard_neg_software": {
        "titles": ["Source code for automated {d} detection", "A Python toolbox for OCT image analysis",
                   "Software for fundus image preprocessing", "Code for: deep learning segmentation of retinal images in {d}",
                   "{d} grading app: source code"],
        "content": ["This repository archive contains the source code used in the study, released under the MIT licence.",
                    "The software reads fundus or OCT images and outputs segmentation maps; images themselves must be obtained from the original datasets.",
                    "Installation instructions and example scripts are given in the README.",
                    "The release was archived from GitHub for long-term preservation."],
        "files": (["code.zip"], {".py": 42, ".ipynb": 3, ".md": 2}, ["src/train.py", "src/models/unet.py"]),
    },
    "hard_neg_model": {
        "titles": ["Trained model weights for {d} classification", "Pretrained network for retinal image analysis",
                   "Model checkpoint: OCT segmentation network"],
        "content": ["We release the trained weights of the convolutional network described in the paper.",
                    "The checkpoint files can be loaded with PyTorch; the training images are not redistributed.",
                    "An inference script shows how to apply the model to new fundus photographs."],
        "files": (["model_weights.pth", "inference.py"], None, None),
    },
}
NON_EYE_IMAGING = [
    ("Chest X-ray images for pneumonia detection", "Frontal chest radiographs of children labelled normal or pneumonia.", ["chest_xray.zip"], {".jpeg": 5800}),
    ("Brain MRI images for tumour classification", "T1-weighted contrast MRI slices of glioma, meningioma and pituitary tumours.", ["brain_mri.zip"], {".jpg": 3000}),
    ("Skin lesion dermoscopy images", "Dermoscopic images of pigmented lesions with melanoma and naevus labels.", ["ISIC_images.zip"], {".jpg": 2500}),
    ("Histopathology images of colorectal cancer", "H&E stained tissue patches in nine tissue classes.", ["patches.zip"], {".tif": 9000}),
    ("Lung CT scans of COVID-19 patients", "Axial CT slices with infection masks.", ["ct_scans.zip"], {".nii.gz": 40}),
    ("Mammography dataset for breast cancer screening", "Digital mammograms with BI-RADS assessments.", ["mammo.zip"], {".dcm": 1200}),
    ("Knee MRI dataset with meniscus tear labels", "Sagittal knee MRI volumes with tear annotations.", ["knee_mri.zip"], {".npy": 1300}),
    ("Abdominal ultrasound image dataset", "Liver and kidney ultrasound frames with organ masks.", ["ultrasound.zip"], {".png": 900}),
    ("Dental panoramic X-ray images", "Panoramic radiographs with tooth numbering.", ["dental.zip"], {".png": 600}),
    ("Cardiac MRI cine sequences", "Short-axis cine MRI of the left ventricle with segmentations.", ["cardiac.zip"], {".nii.gz": 150}),
    ("Whole-slide images of prostate biopsies", "Digitised biopsy slides with Gleason grades.", ["slides.zip"], {".tiff": 400}),
    ("Endoscopy images of the gastrointestinal tract", "Frames from gastroscopy with anatomical landmark labels.", ["endoscopy.zip"], {".jpg": 4000}),
    ("Cell microscopy images of HeLa cells", "Fluorescence microscopy images of cultured cells with nucleus masks.", ["cells.zip"], {".tif": 700}),
    ("Hand X-ray images for bone age estimation", "Paediatric hand radiographs with bone age in months.", ["boneage.zip"], {".png": 12000}),
    ("Spine CT dataset with vertebra labels", "CT volumes of the spine with vertebra segmentations.", ["spine.zip"], {".nii.gz": 120}),
]
NON_EYE_BODIES = ["a tertiary hospital", "a public screening programme", "three university hospitals", "a national cancer institute"]

GRANTS_IMAGING = [
    ("Quantitative OCT biomarkers of {d} progression", "We will image {n} patients with {d} using OCT and OCT angiography every six months and develop automated measures of retinal structure. The de-identified image archive will be shared with the research community."),
    ("Deep learning on retinal photographs for {d} screening", "This project builds a large set of fundus photographs from community clinics and trains algorithms to detect {d}; images and grades will be deposited in a public repository."),
    ("Adaptive optics imaging of the living retina in {d}", "Using adaptive optics scanning laser ophthalmoscopy we will image photoreceptors and retinal pigment epithelium cells in patients with {d} and controls."),
    ("Anterior segment imaging for {d}", "We propose to acquire anterior segment OCT and slit-lamp images of patients with {d} and build an annotated image dataset for automated grading."),
]
GRANTS_NON_IMAGING = [
    ("Genetic architecture of {d}", "This project will genotype {n} individuals and perform genome-wide association and fine-mapping to identify genes contributing to {d}."),
    ("Molecular mechanisms of photoreceptor death in {d}", "We will study signalling pathways that control photoreceptor survival using cell culture and mouse genetics, with biochemical and transcriptomic assays."),
    ("Improving access to eye care for {d} in underserved communities", "A community-based intervention trial with health workers, measuring follow-up rates, costs and patient satisfaction through surveys."),
    ("Neural basis of visual perception", "We will record single neurons in visual cortex during psychophysical tasks to understand how motion and form are represented."),
    ("Pharmacological treatment of {d}: a randomised clinical trial", "A multicentre randomised trial comparing two drug regimens for {d}, with visual acuity as primary outcome and adverse events as secondary outcomes."),
    ("Training program in vision science", "This institutional training grant supports predoctoral trainees in vision research through coursework, mentoring and research rotations."),
    ("Eye movement control in {d}", "Using eye tracking we will characterise saccades and fixation stability in patients with {d} and relate them to reading performance."),
    ("Epidemiology of {d} in older adults", "A population-based cohort with interviews, visual function testing and linkage to health records to estimate incidence and risk factors of {d}."),
]

# Kaggle/Zenodo-style records that are little more than a title: eye-disease image sets
SHORT_POS_TITLES = [
    "{D} dataset", "{D} images", "{D} detection dataset", "{D} classification images ({r}x{r})",
    "{D} fundus dataset", "Eye diseases classification", "{D} resized images", "{D} OCT dataset",
    "Retinal vessel segmentation dataset", "Optic disc and cup segmentation dataset", "Retina dataset for {d}",
    "{D} 2015 competition data (resized)", "Ocular disease recognition", "{D} grading dataset",
    "Unified retinal vessel segmentation dataset from benchmark sources", "{D} challenge training set",
]
SHORT_NEG_TITLES = [
    "{D} clinical data", "{D} risk factors data", "{D} gene expression", "{D} questionnaire", "{D} visual field data",
    "{D} patient records", "{D} eye tracking data", "{D} prediction code", "{D} trained model",
    "{D} statistics", "{D} survey results", "{D} ERG recordings",
]
SHORT_DESCRIPTIONS_POS = ["", "", "", "Images resized to {r}x{r} pixels.", "Train and test folders of images.",
                          "Images sorted into folders by grade.", "Labelled images for deep learning."]
SHORT_DESCRIPTIONS_NEG = ["", "", "", "Tabular data in CSV.", "Values per patient in a spreadsheet.", "See README."]
GRANTS_TECH = [
    "Visible-light optical coherence tomography for {d}", "Scanning dynamic light scattering OCT of retinal blood flow",
    "OCT measurement of trabecular meshwork function in vivo", "Photoacoustic ophthalmoscopy for retinal oxygen imaging",
    "Optoretinography of photoreceptor function", "Handheld OCT for pediatric retinal imaging",
    "Quantitative fundus autofluorescence in {d}", "Deep learning OCT markers for optic neuropathies",
    "Widefield swept-source OCT angiography in {d}", "Adaptive optics OCT of retinal ganglion cells",
]
GRANT_TECH_ABSTRACTS = [
    "Project summary: we will develop and validate a new retinal imaging system and image patients with {d} to establish quantitative imaging biomarkers.",
    "This project advances ophthalmic imaging hardware and acquires in vivo retinal images in patients and animal models of {d}.",
    "We propose to image the eye of {n} participants with the new instrument and compare structural images against clinical grading of {d}.",
]

VAGUE_TITLES = ["Supplementary data", "Dataset for the manuscript", "Data for: {p}", "Raw data", "Data from: {p}", "S1 Dataset", "Study data"]
VAGUE_PAPERS = ["a retrospective study at a university hospital", "automated analysis with deep learning",
                "a cross-sectional study", "a multicentre validation study", "our 2022 study"]
VAGUE_POS = [
    (["OCT_scans.zip"], [{"name": "OCT_scans.zip", "extensions": {".png": 812}, "sample_names": ["OCT_scans/CNV-1016042-1.png", "OCT_scans/NORMAL-12.png"]}]),
    (["fundus_photos.zip", "grades.csv"], [{"name": "fundus_photos.zip", "extensions": {".jpg": 640}, "sample_names": ["fundus/OD_0001.jpg", "fundus/OS_0001.jpg"]}]),
    (["images.zip"], [{"name": "images.zip", "extensions": {".dcm": 300}, "sample_names": ["study1/IM0001.dcm"], "images": [{"format": "DICOM", "modality": "OPT", "body_part": "EYE", "width": 512, "height": 496}]}]),
    (["data.zip"], [{"name": "data.zip", "extensions": {".dcm": 120}, "sample_names": ["retina/IMG001.dcm"], "images": [{"format": "DICOM", "modality": "OP", "body_part": "EYE"}]}]),
    (["retina_images.tar.gz"], [{"name": "retina_images.tar.gz", "extensions": {".tif": 96}, "sample_names": ["retina/drusen_01.tif"]}]),
    (["Bscans.zip", "masks.zip"], [{"name": "Bscans.zip", "extensions": {".png": 1500}, "sample_names": ["Bscans/subject03_bscan_064.png"]}]),
    (["OCTA_3x3.zip"], [{"name": "OCTA_3x3.zip", "extensions": {".bmp": 500}, "sample_names": ["OCTA_3x3/10001/1.bmp"]}]),
    (["slitlamp.zip"], [{"name": "slitlamp.zip", "extensions": {".jpg": 230}, "sample_names": ["slitlamp/cornea_001.jpg"]}]),
]
VAGUE_NEG = [
    (["data.xlsx", "analysis.R"], []),
    (["code.zip"], [{"name": "code.zip", "extensions": {".py": 35, ".ipynb": 4}, "sample_names": ["src/train.py"]}]),
    (["chest_xray.zip"], [{"name": "chest_xray.zip", "extensions": {".jpeg": 5000}, "sample_names": ["chest_xray/train/PNEUMONIA/person1_virus_6.jpeg"]}]),
    (["brain_scans.zip"], [{"name": "brain_scans.zip", "extensions": {".dcm": 800}, "sample_names": ["brain/IM0001.dcm"], "images": [{"format": "DICOM", "modality": "MR", "body_part": "BRAIN"}]}]),
    (["results.csv", "README.md"], []),
    (["model.pth", "predict.py"], []),
    (["reads.fastq.gz", "samples.tsv"], []),
    (["gaze_logs.zip"], [{"name": "gaze_logs.zip", "extensions": {".csv": 80, ".txt": 80}, "sample_names": ["p01/fixations.csv"]}]),
]


def _fill(text: str, rng: random.Random, **extra: str) -> str:
    values = {
        "d": rng.choice(DISEASES),
        "n": str(rng.choice([48, 96, 150, 236, 400, 612, 1000, 1437, 2500, 5000])),
        "dev": rng.choice(DEVICES),
        "C": rng.choice(COUNTRIES),
        "a": rng.choice(ANIMALS),
        "p": rng.choice(VAGUE_PAPERS),
    }
    values.update(extra)
    out = text.format(**values)
    return out[:1].upper() + out[1:]


def _description(rng: random.Random, content: list[str], fill: dict[str, str]) -> str:
    picked = rng.sample(content, k=min(len(content), rng.randint(2, 4)))
    sentences = [_fill(s, rng, **fill) for s in picked]
    sentences += rng.sample(BOILERPLATE, k=rng.randint(1, 4))
    rng.shuffle(sentences[1:])
    text = " ".join(sentences)
    return f"<p>{text}</p>" if rng.random() < 0.3 else text


def _archive(files: tuple[list[str], dict[str, int] | None, list[str] | None], rng: random.Random) -> dict[str, Any]:
    names, exts, samples = files
    out: dict[str, Any] = {"file_names": list(names)}
    if exts and rng.random() < 0.6:
        scaled = {e: max(1, int(n * rng.uniform(0.3, 1.5))) for e, n in exts.items()}
        out["archive_contents"] = [{"name": names[0], "extensions": scaled, "sample_names": samples or []}]
    return out


def template_records(seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []

    def add(category: str, label: str, title: str, description: str, **more: Any) -> None:
        records.append({"category": category, "label": label, "title": title, "description": description,
                        "keywords": more.pop("keywords", []), "origin": "template", **more})

    for category, spec in POS_MODALITIES.items():
        for _ in range(22):
            fill = {"d": rng.choice(DISEASES), "a": rng.choice(ANIMALS)}
            files = _archive(spec["files"], rng) if rng.random() < 0.5 else {}
            add(category, "EYE_IMAGING", _fill(rng.choice(spec["titles"]), rng, **fill),
                _description(rng, spec["content"], fill), keywords=[fill["d"], category.replace("_", " ")], **files)
    for category, spec in NEG_EYE_DATA.items():
        for _ in range(18):
            fill = {"d": rng.choice(DISEASES), "a": rng.choice(ANIMALS)}
            files = _archive(spec["files"], rng) if rng.random() < 0.5 else {}
            add(category, "NEGATIVE", _fill(rng.choice(spec["titles"]), rng, **fill),
                _description(rng, spec["content"], fill), keywords=[fill["d"]], **files)
    for title, desc, names, exts in NON_EYE_IMAGING:
        for _ in range(3):
            where = rng.choice(NON_EYE_BODIES)
            text = f"{desc} Images were collected at {where}. " + " ".join(rng.sample(BOILERPLATE, k=rng.randint(1, 3)))
            more: dict[str, Any] = {"file_names": names}
            if rng.random() < 0.5:
                more["archive_contents"] = [{"name": names[0], "extensions": {e: int(n * rng.uniform(0.5, 1.2)) for e, n in exts.items()}}]
            add("non_eye_imaging", "NEGATIVE", title if rng.random() < 0.5 else f"{title} ({rng.choice(COUNTRIES)})", text, **more)
    for pool, label, category in ((GRANTS_IMAGING, "EYE_IMAGING", "grant_imaging"), (GRANTS_NON_IMAGING, "NEGATIVE", "grant_non_imaging")):
        for title, abstract in pool:
            for _ in range(4 if label == "EYE_IMAGING" else 3):
                fill = {"d": rng.choice(DISEASES)}
                add(category, label, _fill(title, rng, **fill),
                    _fill(abstract, rng, **fill) + " " + rng.choice(["Public health relevance: vision loss affects millions of people.", "Specific aims are described below.", ""]),
                    kind="grant")
    for _ in range(45):
        d = rng.choice(DISEASES)
        fill = {"d": d, "D": d.title(), "r": rng.choice(["224", "256", "448", "512"])}
        add("short_title_pos", "EYE_IMAGING", _fill(rng.choice(SHORT_POS_TITLES), rng, **fill),
            _fill(rng.choice(SHORT_DESCRIPTIONS_POS), rng, **fill), keywords=rng.choice([[], [d], [d, "deep learning"]]))
    for _ in range(35):
        d = rng.choice(DISEASES)
        fill = {"d": d, "D": d.title()}
        add("hard_neg_short_title", "NEGATIVE", _fill(rng.choice(SHORT_NEG_TITLES), rng, **fill),
            _fill(rng.choice(SHORT_DESCRIPTIONS_NEG), rng, **fill), keywords=rng.choice([[], [d]]))
    for title in GRANTS_TECH:
        for _ in range(2):
            fill = {"d": rng.choice(DISEASES)}
            add("grant_imaging", "EYE_IMAGING", _fill(title, rng, **fill), _fill(rng.choice(GRANT_TECH_ABSTRACTS), rng, **fill), kind="grant")
    for _ in range(30):
        names, archives = rng.choice(VAGUE_POS)
        add("file_evidence_pos", "EYE_IMAGING", _fill(rng.choice(VAGUE_TITLES), rng), rng.choice(["", "", "Data supporting the findings of the study.", "See the paper for details."]),
            file_names=names, archive_contents=archives)
    for _ in range(30):
        names, archives = rng.choice(VAGUE_NEG)
        add("hard_neg_file_evidence", "NEGATIVE", _fill(rng.choice(VAGUE_TITLES), rng), rng.choice(["", "", "Data supporting the findings of the study.", "See the paper for details."]),
            file_names=names, archive_contents=archives)
    return records


def core_records(path: Path = HERE / "core.txt") -> list[dict[str, Any]]:
    records = []
    label = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("@label"):
            label = line.split()[1]
            continue
        category, title, description, keywords = (p.strip() for p in line.split(" | "))
        records.append({
            "category": category, "label": label, "title": title, "description": description,
            "keywords": [k.strip() for k in keywords.split(";") if k.strip()], "origin": "core",
            **({"kind": "grant"} if category.startswith("grant") else {}),
        })
    return records


def assign_splits(records: list[dict[str, Any]]) -> None:
    """About TEST_SHARE of each (category, origin) goes to test, chosen by a hash of the title."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["category"], r["origin"]), []).append(r)
    for group in groups.values():
        group.sort(key=lambda r: hashlib.sha1(r["title"].encode()).hexdigest())
        n_test = round(len(group) * TEST_SHARE)
        for i, r in enumerate(group):
            r["split"] = "test" if i < n_test else "train"


def main() -> None:
    records = core_records() + template_records()
    seen: set[str] = set()
    unique = []
    for r in records:
        key = (r["title"] + r["description"]).lower()
        if key not in seen:
            seen.add(key)
            unique.append(r)
    assign_splits(unique)
    # raw-shaped records (training/raw.py) carry their own split: the training half joins the
    # labelled set, the held-out half is its own evaluation file, never trained on
    raw = raw_records()
    for r in raw:
        r.setdefault("origin", "raw")
    unique += [r for r in raw if r["split"] == "train"]
    for name in DEVELOPMENT_SETS:
        with jsonlines.open(HERE / name) as reader:
            unique += list(reader)
    with jsonlines.open(HERE / "records.jsonl", "w", sort_keys=True) as writer:
        writer.write_all(unique)
    with jsonlines.open(HERE / RAW_HELDOUT, "w", sort_keys=True) as writer:
        writer.write_all(r for r in raw if r["split"] == "test")
    by_label: dict[str, int] = {}
    for r in unique:
        by_label[f"{r['label']}/{r['split']}"] = by_label.get(f"{r['label']}/{r['split']}", 0) + 1
    print(json.dumps({"records": len(unique), **by_label}, sort_keys=True))


if __name__ == "__main__":
    main()
