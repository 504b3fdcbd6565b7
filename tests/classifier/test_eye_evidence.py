"""The kinds of eye evidence a record shows (classifier/features.py ``eye_evidence``), which the
download gate wants besides a confident label: left/right names alone are not enough."""

from __future__ import annotations

from envision_spiders.classifier.features import eye_evidence
from envision_spiders.classifier.training.raw import arc, img
from envision_spiders.items import EYE_EVIDENCE, corroborated
from tests.classifier import feature


def _archive(names: list[str], images: list[dict] = (), ext: str = ".jpg") -> dict:
    return {"title": "Raw data", "file_names": ["raw.zip"], "archive_contents": [arc("raw.zip", {ext: 400}, names, images)]}


def test_eye_words_in_the_record_text_are_evidence_unless_a_trap_says_otherwise():
    assert eye_evidence({"title": "Colour fundus photographs of diabetic patients"}) == ("words",)
    assert eye_evidence({"title": "Iris setosa flower photographs"}) == ()
    assert eye_evidence({"title": "Raw data", "description": "Images underlying the figures."}) == ()


def test_one_eye_word_in_file_names_is_not_enough_two_are():
    # the look-alikes: a moth's cornea, a retina display, the fundus of the stomach, the macula of the ear
    for name in ("AFM/moth_cornea_01.tif", "retina_display_screenshot_001.png", "endo/fundus_gastric_0001.jpg",
                 "ctrl/P7_utricle_macula_Myo7a_1.tif"):
        assert "names" not in eye_evidence(_archive([name, name.replace("1", "2")])), name
    assert "names" in eye_evidence(_archive(["fundus/P01_OD_macula.jpg", "fundus/P01_OS_macula.jpg"]))
    assert "names" in eye_evidence(_archive(["眼底照片/0001_zuoyan.jpg", "眼底照片/0001_youyan.jpg"]))
    assert "names" in eye_evidence(_archive(["Proband_01_Auge_rechts_1.tif", "Proband_01_Auge_links_1.tif"]))
    # OCT and macula in the names of skin lesions are not an eye's
    skin = {**_archive(["BCC_OCT/L01_macula_oct.png"]), "description": "OCT of skin lesions before Mohs surgery."}
    assert "names" not in eye_evidence(skin)


def test_eye_dicom_is_evidence_but_visual_fields_and_axial_lengths_are_not_images():
    assert "dicom" in eye_evidence(_archive(["r/IM1.dcm"], [img("dicom", 2000, 2000, "OP", "EYE")], ".dcm"))
    fields = _archive(["exports/001_OD_24-2.dcm", "exports/001_OS_24-2.dcm"], [img("dicom", None, None, "OPV", "EYE")], ".dcm")
    assert eye_evidence(fields) == ("sides",)  # and its OD/OS pair is not a clinic's photographs
    assert "dicom" not in eye_evidence(_archive(["r/IM1.dcm"], [img("dicom", 512, 512, "MR", "BRAIN")], ".dcm"))


def test_device_exports_class_folders_known_datasets_and_oct_sizes_are_evidence():
    assert "device" in eye_evidence({"title": "Files", "file_names": ["TRITON_4D61F48E_R.fda", "TRITON_58346784_L.fda"]})
    assert "folders" in eye_evidence(_archive(["train/CNV/1.jpeg", "train/DRUSEN/2.jpeg", "train/NORMAL/3.jpeg"]))
    assert "dataset" in eye_evidence({"title": "RFMiD 2.0", "file_names": ["Training_Set.zip"]})
    oct_scans = _archive(["scans/001.png"], [img("png", 512, 496, channels=1)] * 3, ".png")
    assert "geometry" in eye_evidence(oct_scans)


def test_a_clinics_pair_is_evidence_left_and_right_alone_are_not():
    clinic = _archive(["images/0001_OD.jpg", "images/0001_OS.jpg", "images/0002_OD.jpg"])
    assert eye_evidence(clinic) == ("eye_pair", "sides") and corroborated(eye_evidence(clinic))
    eyepacs_like = _archive(["train/10_left.jpeg", "train/10_right.jpeg"])
    assert eye_evidence(eyepacs_like) == ("sides",) and not corroborated(eye_evidence(eyepacs_like))
    paws = _archive(["raw_data/dog01_left_fore.jpg", "raw_data/dog01_right_fore.jpg"])
    assert eye_evidence(paws) == () and not corroborated(())


def test_the_kinds_come_in_one_order_and_the_features_see_the_new_names():
    kinds = eye_evidence({**_archive(["fundus/P01_OD.jpg", "fundus/P01_OS.jpg"]), "title": "Retinal photographs"})
    assert list(kinds) == [k for k in EYE_EVIDENCE if k in kinds]
    # the eye in another language counts among the eye names the head reads, too
    assert feature(_archive(["Sujeto_01/ojo_1.jpg"]), "names_eye_words") > 0
    assert feature(_archive(["Sujeto_01/foto_1.jpg"]), "names_eye_words") == 0


def test_other_organs_by_side_in_other_languages_are_not_eyes_and_the_eye_is_read_in_more_languages():
    # a kidney's, a foot's, a thyroid lobe's, a palm's left and right (German, Spanish, English)
    for names in (["Niere_links_M01_PAS.tif", "Niere_rechts_M01_PAS.tif"], ["paciente01/pie_izquierdo.jpg", "paciente01/pie_derecho.jpg"],
                  ["tiroides/lobulo_derecho/p01.bmp", "tiroides/lobulo_izquierdo/p01.bmp"], ["L_palm_001_1.bmp", "R_palm_001_1.bmp"]):
        record = _archive(names)
        assert feature(record, "names_non_eye_words") > 0, names
        assert "sides" not in eye_evidence(record), names
    # the eye itself in Turkish, Swedish, Korean and Persian folder names
    for names in (["sağ_göz/h001.jpg", "sol_göz/h001.jpg"], ["häst_03_öga_vänster_1.jpg", "häst_03_öga_höger_1.jpg"],
                  ["우안/0001.png", "좌안/0001.png"], ["چشم_راست/101.jpg", "چشم_چپ/101.jpg"]):
        assert feature(_archive(names), "names_eye_words") > 0, names


def test_visual_field_printouts_blots_and_a_driving_data_set_named_drive_are_not_eye_evidence():
    # a perimeter's printouts under the clinic's OD / OS names: eye data, not eye images
    printouts = _archive(["LD0001_OD_24-2.jpg", "LD0001_OS_24-2.jpg", "LD0002_OD_30-2.jpg"])
    assert eye_evidence(printouts) == ("sides",) and feature(printouts, "perimetry_names") > 0
    fundus = _archive(["P001_OD.jpg", "P001_OS.jpg", "scan_2019-10-24-2.jpg"])  # a date is not a test pattern
    assert "eye_pair" in eye_evidence(fundus) and feature(fundus, "perimetry_names") == 0
    assert eye_evidence(_archive(["blot_retina_lysate_1.tif", "blot_retina_lysate_2.tif"], ext=".tif")) == ()
    for description in ("Dash-camera frames from rural roads.", "Simulator logs and dash camera clips."):
        assert eye_evidence({"title": "DRIVE-Nord 2023", "description": description}) == ()
    assert eye_evidence({"title": "DRIVE dataset", "file_names": ["DRIVE.zip"]}) == ("dataset",)


def test_eyes_glued_to_their_side_are_eye_names_and_the_stomachs_fundus_the_ears_macula_and_faces_are_not():
    assert "names" in eye_evidence(_archive(["wt/zf_wt_01_eyeL_5dpf.tif", "wt/zf_wt_01_eyeR_5dpf.tif"], ext=".tif"))
    assert "names" in eye_evidence(_archive(["p1_lefteye.jpg", "p1_righteye.jpg"]))
    for names in (["ugi/fundus_00001.jpg", "ugi/antrum_00002.jpg"], ["P2_utricle_macula_1.tif", "P2_utricle_macula_2.tif"],
                  ["subj01/eyebrow_raise.jpg", "subj01/smile.jpg", "subj01/eye_closure.jpg", "subj01/eyes_left.jpg"]):
        assert "names" not in eye_evidence(_archive(names)), names
    # leaves (German Blatt) and fins photographed by side are not eyes
    assert eye_evidence(_archive(["Blatt_001_links.tif", "Blatt_001_rechts.tif"], ext=".tif")) == ()
    assert eye_evidence(_archive(["fish01_pectoral_left.jpg", "fish01_pectoral_right.jpg"])) == ()


def test_gills_stereo_rigs_object_views_and_whole_slides_by_side_are_not_eyes_and_rop_zones_are():
    for names in (["fish01_L_gill.jpg", "fish01_R_gill.jpg"], ["left/000001.png", "right/000001.png", "calib.yaml"],
                  ["right.jpg", "left.jpg", "top.jpg"], ["P05_prava_ruka.png", "P05_leva_ruka.png"]):
        assert "sides" not in eye_evidence(_archive(names)), names
    assert eye_evidence(_archive(["OS3_0001_HE.svs", "OS3_0002_HE.svs"], ext=".svs")) == ()
    assert "sides" in eye_evidence(_archive(["fish12_eye_OS_HE.svs", "fish12_eye_OD_HE.svs"], ext=".svs"))
    assert "names" in eye_evidence(_archive(["round2/ROP_0012_zoneI.jpg", "round2/ROP_0013_zoneII.jpg"]))
    # the same side names without the view word still count
    assert "sides" in eye_evidence(_archive(["right.jpg", "left.jpg"]))


def test_eye_names_of_other_conventions_and_radiographs_and_chest_x_rays_by_side_are_not_eyes():
    for names in (["0_binh_thuong/mat_trai/001.jpg", "0_binh_thuong/mat_phai/001.jpg"],  # Vietnamese
                  ["NIR/001/L/S1001L01.jpg", "NIR/001/R/S1001R01.jpg"],  # CASIA iris captures
                  ["P01/FA_P01_R_0m32s.jpg", "P01/FA_P01_R_5m10s.jpg"],  # angiography frames by time
                  ["Base11/20051217_61659_0100_PP.tif", "Base11/20051213_59736_0100_PP.tif"],  # Messidor
                  ["WT_ret1_petal1_20x.tif", "WT_ret2_petal1_20x.tif"]):  # a flat-mount's petals
        assert "names" in eye_evidence(_archive(names)), names
    for names in (["radiografias/pe_esquerdo/001_AP.png", "radiografias/pe_direito/001_AP.png"],
                  ["CXR8/00005842_006_left.png", "CXR8/00005842_006_right.png"]):
        assert eye_evidence(_archive(names)) == (), names
    assert eye_evidence({"title": "ME-PDMS-2022 (moth-eye replica films)"}) == ()


def test_wide_field_exports_corneal_nerve_plexus_insect_facets_and_eye_cameras_are_eye_names_ears_and_paws_are_not():
    for names in (["cohortB/A84A7BCCF1_R_UWF.tif", "cohortB/95C5098EDD_L_UWF.tif"], ["sub01/000/eye0.mp4", "sub01/000/eye1.mp4"]):
        assert "names" in eye_evidence(_archive(names)), names
    # one eye word alone is counted, not evidence for the gate (see above)
    for names in (["CCM_C01_subbasal_1.tif", "CCM_C02_subbasal_1.tif"], ["SEM/fly1_ommatidia_x150.tif", "SEM/fly2_ommatidia_x150.tif"]):
        assert feature(_archive(names), "names_eye_words") > 0 == feature(_archive(["CCM_C01_1.tif", "CCM_C02_1.tif"]), "names_eye_words"), names
    for names in (["AOM/1bbc0a_AD.jpg", "AOM/4d26cf_AS.jpg", "normal/df0825_left.jpg", "normal/df0825_right.jpg"],
                  ["patas/perro03_ant_izq.jpg", "patas/perro03_ant_der.jpg"]):
        assert eye_evidence(_archive(names)) == (), names
