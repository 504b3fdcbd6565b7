"""Part sizes of multipart uploads into S3 (``downloads/objects.py``): pure arithmetic."""

from __future__ import annotations

import pytest

from envision_spiders.downloads.objects import MAX_PARTS, MIN_PART_SIZE, part_size

MiB = 1024 * 1024


@pytest.mark.parametrize("chunk", [1, 256 * 1024, 5 * MiB - 1])
def test_chunks_below_the_s3_minimum_become_5_mib_parts(chunk: int) -> None:
    assert part_size(chunk, 100 * MiB) == MIN_PART_SIZE == 5 * MiB


def test_a_chunk_size_above_the_minimum_is_kept_and_an_unknown_size_changes_nothing() -> None:
    assert part_size(8 * MiB, 3 * 1024 * MiB) == 8 * MiB
    assert part_size(8 * MiB, None) == 8 * MiB


@pytest.mark.parametrize("size", [10_000 * 8 * MiB + 1, 10**12, 5 * 1024**4])
def test_huge_files_get_whole_mib_parts_that_fit_in_10000(size: int) -> None:
    chunk = part_size(8 * MiB, size)
    assert chunk % MiB == 0 and chunk > 8 * MiB
    assert -(-size // chunk) <= MAX_PARTS
    assert -(-size // (chunk - MiB)) > MAX_PARTS  # the smallest such size
