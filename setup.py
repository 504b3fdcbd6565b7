# Packaging for `pip install -e .` and for scrapyd eggs (`scrapyd-deploy`): the egg must carry
# the data files the crawl needs at run time (record schema, classifier head, query set).
from setuptools import find_packages, setup

setup(
    name="envision_spiders",
    version="0.1.0",
    packages=find_packages(include=["envision_spiders", "envision_spiders.*"]),
    package_data={
        "envision_spiders": ["schema/*.json", "classifier/assets/*", "classifier/training/*.jsonl"],
    },
    include_package_data=True,
    entry_points={"scrapy": ["settings = envision_spiders.settings"]},
    python_requires=">=3.11",
)
