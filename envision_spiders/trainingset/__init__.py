"""Export: turn completed gated downloads into an image-classification tree.

What enters: the per-record JSON store (``state.store.iter_stored_records``) and the download
folders whose ``manifest.json`` says ``complete`` (``FILES_STORE/{source}/{source_id}/``), with
their plain image files and their ZIP/TAR archives, read entry by entry and refused where
hostile (``extract.py``). What leaves: ``DEST/{split}/{label}/{file}`` with a ``metadata.jsonl``
per split (provenance, licence, format, size, sha256) that ``datasets``' ``imagefolder`` and
torchvision's ``ImageFolder`` load as they are, a ``croissant.json`` card (MLCommons Croissant)
and a summary dict. Labels, leak-free grouped splits and balancing are pure functions
(``plan.py``). Who calls it: ``scrapy export`` (``commands/export.py``) through
:func:`envision_spiders.trainingset.run.export_dataset`; nothing here runs inside a crawl.
"""
