"""Gated downloads: pure helpers (names, gate, checksums, range bookkeeping, manifests) and the
ranged fetcher used by ``envision_spiders.pipelines.files.GatedFilesPipeline``."""
