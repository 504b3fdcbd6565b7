"""End to end: ``scrapy crawl url -a urls=FILE`` against the fake APIs, a fake DOI resolver and
web site, and nginx; each input gives its record (or one line saying why not), in one run."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.conftest import CrawlResult, run_crawl
from tests.servers.base import Call, FakeAPI, Reply
from tests.servers.datacite import FakeDataCite, datacite_from_zenodo
from tests.servers.dryad import FakeDryad
from tests.servers.figshare import FakeFigshare
from tests.servers.kaggle import FakeKaggle
from tests.servers.kaggle import make_dataset as kaggle_dataset
from tests.servers.kaggle import make_files as make_kaggle_files
from tests.servers.nei import FakeReporter
from tests.servers.osf import FakeOSF
from tests.servers.zenodo import FakeZenodo

DATASET_PAGE = """<!DOCTYPE html><html><head><title>OCT volumes | Lab</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Dataset",
 "name": "Retinal OCT volumes of 40 eyes", "description": "Spectral-domain OCT volumes.",
 "identifier": "https://doi.org/10.5555/lab.oct.1", "keywords": ["OCT", "retina"],
 "distribution": [{"@type": "DataDownload", "contentUrl": "/files/oct.zip", "encodingFormat": "application/zip"}]}
</script></head><body><h1>Retinal OCT volumes</h1></body></html>"""
META_PAGE = """<!DOCTYPE html><html><head><title>Fundus set | Eye Lab</title>
<meta name="citation_title" content="Fundus photographs of 120 diabetic eyes">
<meta name="DC.description" content="Colour fundus photographs with DR grades."></head>
<body><h1>Fundus set</h1><a href="/files/fundus.zip">all images</a> <a href="/files/grades.csv">grades</a></body></html>"""
ERROR_PAGE = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
LOGIN_PAGE = b"<html><head><title>Sign in</title></head><body><form>user</form></body></html>"
EMPTY_PAGE = b"<html><head></head><body><div id='app'></div></body></html>"
HTML = {"Content-Type": "text/html; charset=utf-8"}


class FakeWeb(FakeAPI):
    """Web pages, redirects and a DOI resolver (``/doi/<doi>`` -> a landing page) for GET and HEAD."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, Reply] = {}
        self.crossref: dict[str, Reply] = {}  # DOI -> Crossref's /works/{doi} answer
        for method in ("GET", "HEAD"):
            self.route(f"page_{method.lower()}", method, r"/(?P<path>.*)", self.serve)

    def serve(self, call: Call, match: Any) -> Reply:
        path = "/" + match["path"]
        if path.startswith("/crossref/works/"):
            return self.crossref.get(unquote(path.removeprefix("/crossref/works/"))) or Reply.json(
                {"status": "error", "message": "Resource not found."}, 404)
        if path.startswith("/noheads/") and call.method == "HEAD":
            return Reply(405, b"", {"Allow": "GET"})
        if path.startswith("/noheads/") and call.headers.get("Range") == "bytes=0-0":
            return Reply(206, b"P", {"Content-Type": "application/zip", "Content-Range": "bytes 0-0/123456",
                                     "Content-Disposition": 'attachment; filename="scans.zip"'})
        return self.pages.get(path) or Reply(404, ERROR_PAGE, HTML)


def image_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(3):
            archive.writestr(f"fundus/img{n}.png", b"\x89PNG\r\n\x1a\n" + bytes(40))
        archive.writestr("labels.csv", "name,grade\n")
    return buffer.getvalue()


class FakeGitHub(FakeAPI):
    """GitHub's ``/repos/{owner}/{repo}`` and ``/releases/latest`` (404 without a release)."""

    def __init__(self) -> None:
        super().__init__()
        self.releases: dict[str, dict[str, Any]] = {}
        self.route("release", "GET", r"/repos/([^/]+/[^/]+)/releases/latest", self.release)
        self.route("repo", "GET", r"/repos/([^/]+/[^/]+)", self.repository)

    def repository(self, call: Call, match: Any) -> Reply:
        name = match.group(1)
        if name.startswith("missing/"):
            return Reply.json({"message": "Not Found"}, 404)
        return Reply.json({"full_name": name, "html_url": f"https://github.com/{name}", "url": f"{self.base_url}/repos/{name}",
                           "description": f"Fundus images of {name} (doi:10.5281/zenodo.424242)",
                           "topics": ["fundus", "retina"], "owner": {"login": name.split("/")[0]},
                           "license": {"spdx_id": "CC-BY-4.0"}, "created_at": "2021-02-03T00:00:00Z",
                           "pushed_at": "2024-05-06T07:08:09Z", "private": False})

    def release(self, call: Call, match: Any) -> Reply:
        found = self.releases.get(match.group(1))
        return Reply.json(found) if found else Reply.json({"message": "Not Found"}, 404)


class FakeZenodoPages(FakeZenodo):
    """The fake Zenodo plus its HTML record pages (``/records/{id}``, GET and HEAD)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for method in ("GET", "HEAD"):
            self.route(f"page_{method.lower()}", method, r"/records/(\d+)",
                       lambda call, match: Reply(200, b"<html><title>Zenodo</title></html>", HTML))


class FakeOsfNodes(FakeOSF):
    """The fake OSF plus ``GET /v2/nodes/{id}/`` (one node), as OSF serves it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route("node", "GET", r"/v2/nodes/(\w+)/?", self.node)

    def node(self, call: Call, match: Any) -> Reply:
        found = next((n for n in self.all_nodes() if n["id"] == match.group(1)), None)
        return Reply.json({"data": found}) if found else Reply.json({"errors": [{"detail": "Not found."}]}, 404)


class FakeDataCiteDois(FakeDataCite):
    """The fake DataCite plus ``GET /dois/{doi}`` (one DOI)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route("doi", "GET", r"/dois/(.+)", self.one)

    def one(self, call: Call, match: Any) -> Reply:
        doi = unquote(match.group(1)).lower()
        found = next((r for r in self.records if r["id"].lower() == doi), None)
        return Reply.json({"data": found}) if found else Reply.json({"errors": [{"status": "404"}]}, 404)


@pytest.fixture(scope="module")
def servers():
    zenodo, figshare, dryad = FakeZenodoPages(n_records=6), FakeFigshare(n_articles=12), FakeDryad(n_eye=4, n_other=1)
    osf, web, github = FakeOsfNodes(n_eye=3, n_other=1, n_private=0), FakeWeb(), FakeGitHub()
    for server in (zenodo, figshare, dryad, osf, web, github):
        server.start()
    alias = datacite_from_zenodo(zenodo.all_records()[2])  # a DOI DataCite knows, landing on a Zenodo record
    alias["id"], alias["attributes"]["url"] = "10.99999/alias.3", f"{zenodo.base_url}/records/{zenodo.all_records()[2]['id']}"
    datacite = FakeDataCiteDois(n_eye=2, n_other=0, extra=[alias])
    datacite.start()
    yield {"zenodo": zenodo, "figshare": figshare, "dryad": dryad, "osf": osf, "web": web, "datacite": datacite,
           "github": github}
    for server in (zenodo, figshare, dryad, osf, web, datacite, github):
        server.stop()


def api_settings(s: dict[str, Any]) -> dict[str, str]:
    return {"ZENODO_API_URL": f"{s['zenodo'].base_url}/api", "FIGSHARE_API_URL": f"{s['figshare'].base_url}/v2",
            "DRYAD_API_URL": f"{s['dryad'].base_url}/api/v2", "OSF_API_URL": f"{s['osf'].base_url}/v2",
            "DATACITE_API_URL": s["datacite"].base_url, "ENVISION_DOI_RESOLVER_URL": f"{s['web'].base_url}/doi",
            "GITHUB_API_URL": s["github"].base_url, "CROSSREF_API_URL": f"{s['web'].base_url}/crossref"}


def crawl_inputs(tmp: Path, inputs: list[str], settings: dict[str, Any]) -> CrawlResult:
    path = tmp / "inputs.txt"
    path.write_text("# inputs of this test\n" + "\n".join(inputs) + "\n")
    result = run_crawl("url", tmp, settings=settings, args={"urls": str(path)})
    (tmp / "crawl.log").write_text(result.log)  # for a failing test's reader
    return result


def by_input(result: CrawlResult) -> dict[str, dict[str, Any]]:
    return {item["extra"]["ingest_input"]: item for item in result.items}


# --- the APIs of the sources we crawl -------------------------------------------------------------
@pytest.fixture(scope="module")
def api_run(servers, tmp_path_factory):
    z, f, d, o = servers["zenodo"].all_records(), servers["figshare"].all_articles(), servers["dryad"], servers["osf"]
    article = next(a for a in f if a["doi"].startswith("10.6084/m9.figshare.") and len(a["files"]) >= 10)
    dryad_doi = d.datasets[1]["identifier"].removeprefix("doi:")
    inputs = {
        "zenodo_url": f"{servers['zenodo'].base_url}/records/{z[0]['id']}",
        "zenodo_doi": f"https://doi.org/{z[1]['doi']}",
        "figshare_doi": f"doi:{article['doi']}",
        "dryad_url": f"{d.base_url}/stash/dataset/doi:{dryad_doi}",
        "osf_url": f"{o.base_url}/{o.all_nodes()[0]['id']}/",
        "datacite_doi": servers["datacite"].records[0]["id"].upper(),
        "datacite_to_zenodo": "10.99999/alias.3",
        "resolved_doi": "10.5555/lab.oct.1",
        "resolved_to_zenodo": "10.5555/zenodo.copy.4",
        "crossref_doi": "https://doi.org/10.5555/CROSSREF.7",
        "crossref_to_osf": "10.5555/osf.copy",
        "missing_zenodo": f"{servers['zenodo'].base_url}/records/999",
        "not_a_url": "retina dataset please",
    }
    servers["web"].pages["/doi/10.5555/lab.oct.1"] = Reply(302, b"", {"Location": "/lab/oct"})
    servers["web"].pages["/lab/oct"] = Reply(200, DATASET_PAGE.encode(), HTML)
    zenodo_page = f"{servers['zenodo'].base_url}/records/{z[3]['id']}"
    servers["web"].pages["/doi/10.5555/zenodo.copy.4"] = Reply(302, b"", {"Location": zenodo_page})
    servers["web"].pages["/lab/crossref"] = Reply(200, META_PAGE.encode(), HTML)
    servers["web"].crossref["10.5555/crossref.7"] = Reply.json({"status": "ok", "message": {
        "DOI": "10.5555/crossref.7", "URL": "https://doi.org/10.5555/crossref.7", "type": "dataset",
        "resource": {"primary": {"URL": f"{servers['web'].base_url}/lab/crossref"}}}})
    servers["web"].crossref["10.5555/osf.copy"] = Reply.json({"status": "ok", "message": {
        "DOI": "10.5555/osf.copy", "resource": {"primary": {"URL": f"{o.base_url}/{o.all_nodes()[1]['id']}/"}}}})
    tmp = tmp_path_factory.mktemp("url-api")
    result = crawl_inputs(tmp, list(inputs.values()), api_settings(servers))
    return result, inputs, {"article": article, "dryad_doi": dryad_doi, "zenodo": z, "osf": o.all_nodes()[0],
                    "osf_second": o.all_nodes()[1]}


def test_the_run_goes_on_past_bad_inputs_and_ends_with_a_summary(api_run):
    result, inputs, _ = api_run
    assert result.returncode == 0, result.log
    assert "Traceback" not in result.log
    assert result.stats["envision/ingest/inputs"] == len(inputs)
    assert result.stats["envision/ingest/records"] == len(inputs) - 2
    for text in inputs.values():
        assert f"Input {text} -> " in result.log
    assert f"Input {inputs['not_a_url']} gives no record (invalid)" in result.log
    assert f"Input {inputs['missing_zenodo']} gives no record (http_error): HTTP 404" in result.log
    assert result.stats["envision/ingest/missing"] == 2


def test_zenodo_record_url_and_doi_give_the_zenodo_spiders_record(api_run):
    result, inputs, facts = api_run
    records = by_input(result)
    first, second = records[inputs["zenodo_url"]], records[inputs["zenodo_doi"]]
    assert (first["source"], first["source_id"]) == ("zenodo", str(facts["zenodo"][0]["id"]))
    assert second["doi"] == facts["zenodo"][1]["doi"] and second["files"]
    assert first["title"] == facts["zenodo"][0]["metadata"]["title"]


def test_figshare_doi_reads_the_article_and_its_full_file_listing(api_run, servers):
    result, inputs, facts = api_run
    record = by_input(result)[inputs["figshare_doi"]]
    assert (record["source"], record["source_id"]) == ("figshare", str(facts["article"]["id"]))
    assert record["file_count"] == len(facts["article"]["files"]) and not record["extra"].get("files_incomplete")


def test_dryad_dataset_url_reads_the_dataset_and_its_files(api_run, servers):
    result, inputs, facts = api_run
    record = by_input(result)[inputs["dryad_url"]]
    assert record["source"] == "dryad" and record["doi"] == facts["dryad_doi"]
    assert record["files"] and all(f["url"] for f in record["files"])


def test_osf_node_url_reads_the_node_and_its_file_tree(api_run):
    result, inputs, facts = api_run
    record = by_input(result)[inputs["osf_url"]]
    assert (record["source"], record["source_id"]) == ("osf", facts["osf"]["id"])
    assert record["files"]


def test_another_doi_gives_its_datacite_record_or_the_repository_datacite_names(api_run, servers):
    result, inputs, facts = api_run
    records = by_input(result)
    plain = records[inputs["datacite_doi"]]
    assert (plain["source"], plain["doi"]) == ("datacite", servers["datacite"].records[0]["id"].lower())
    named = records[inputs["datacite_to_zenodo"]]
    assert (named["source"], named["source_id"]) == ("zenodo", str(facts["zenodo"][2]["id"]))


def test_a_crossref_doi_is_read_at_the_landing_page_crossref_gives(api_run):
    result, inputs, facts = api_run
    records = by_input(result)
    page = records[inputs["crossref_doi"]]
    assert page["source"].startswith("portal-") and page["doi"] == "10.5555/crossref.7"
    assert page["title"] == "Fundus photographs of 120 diabetic eyes"
    node = records[inputs["crossref_to_osf"]]  # Crossref's landing page is an OSF node: read from OSF's API
    assert (node["source"], node["source_id"]) == ("osf", facts["osf_second"]["id"])


def test_a_doi_datacite_does_not_know_is_resolved_to_its_landing_page(api_run):
    result, inputs, facts = api_run
    landed = by_input(result)[inputs["resolved_to_zenodo"]]  # a landing page of a source we crawl: its API
    assert (landed["source"], landed["source_id"]) == ("zenodo", str(facts["zenodo"][3]["id"]))
    record = by_input(result)[inputs["resolved_doi"]]
    assert record["source"].startswith("portal-") and record["doi"] == "10.5555/lab.oct.1"
    assert record["title"] == "Retinal OCT volumes of 40 eyes" and record["extra"]["extraction"] == "jsonld"


# --- bare files, archives and web pages --------------------------------------------------------
@pytest.fixture(scope="module")
def web_run(servers, nginx, tmp_path_factory):
    web = servers["web"]
    nginx.put("ingest/eyes.zip", image_zip())
    web.pages["/lab/fundus"] = Reply(200, META_PAGE.encode(), HTML)
    web.pages["/private/data.zip"] = Reply(302, b"", {"Location": "/users/sign_in?next=/private/data.zip"})
    web.pages["/users/sign_in"] = Reply(200, LOGIN_PAGE, HTML)
    web.pages["/app"] = Reply(200, EMPTY_PAGE, HTML)
    servers["github"].releases["eyelab/oct-data"] = {"tag_name": "v2.0", "published_at": "2024-01-02T00:00:00Z",
                                                      "body": "Second release", "assets": [
        {"name": "eyes.zip", "size": len(image_zip()), "content_type": "application/zip",
         "browser_download_url": nginx.url("ingest/eyes.zip")}]}
    github = servers["github"].base_url
    inputs = {
        "archive": nginx.url("ingest/eyes.zip"),
        "redirected_file": nginx.url("ingest/eyes.zip", "redirect"),
        "page": f"{web.base_url}/lab/fundus",
        "no_head": f"{web.base_url}/noheads/scans.zip",
        "login": f"{web.base_url}/private/data.zip",
        "error_page": f"{web.base_url}/gone",
        "empty_page": f"{web.base_url}/app",
        "github": f"{github}/eyelab/oct-data",
        "github_no_release": f"{github}/eyelab/notes.git",
        "github_missing": f"{github}/missing/repo",
    }
    tmp = tmp_path_factory.mktemp("url-web")
    result = crawl_inputs(tmp, list(inputs.values()), {**api_settings(servers), "ENVISION_INSPECT_ENABLED": True})
    return result, inputs


def test_a_bare_archive_url_gives_a_record_from_headers_inspected_by_range(web_run, nginx):
    result, inputs = web_run
    assert result.returncode == 0, result.log
    record = by_input(result)[inputs["archive"]]
    assert record["source"] == "url" and record["title"] == "eyes.zip"
    (entry,) = record["files"]
    assert entry["size"] == len(image_zip()) and entry["mimetype"] == "application/zip"
    assert record["modified"]  # Last-Modified
    assert record["img_count"] == 3  # the PNGs inside, read by Range
    heads = [r for r in nginx.requests("/files/ingest/eyes.zip") if r["method"] == "HEAD"]
    assert heads and all(r["bytes"] == 0 for r in heads)


def test_a_redirected_file_is_recorded_at_its_final_address(web_run, nginx):
    result, inputs = web_run
    record = by_input(result)[inputs["redirected_file"]]
    assert record["files"][0]["url"] == nginx.storage_url("ingest/eyes.zip")


def test_a_server_refusing_head_is_asked_for_one_byte(web_run):
    result, inputs = web_run
    record = by_input(result)[inputs["no_head"]]
    assert record["files"][0] | {} == record["files"][0] and record["files"][0]["size"] == 123456
    assert record["title"] == "scans.zip"


def test_a_web_page_gives_the_portal_extraction(web_run):
    result, inputs = web_run
    record = by_input(result)[inputs["page"]]
    assert record["title"] == "Fundus photographs of 120 diabetic eyes"
    assert sorted(f["name"] for f in record["files"]) == ["fundus.zip", "grades.csv"]


def test_login_redirects_error_pages_and_empty_pages_are_one_line_each(web_run):
    result, inputs = web_run
    assert set(by_input(result)) == {inputs[k] for k in ("archive", "redirected_file", "page", "no_head", "github",
                                                        "github_no_release")}
    for key, reason in (("login", "login"), ("error_page", "http_error"), ("empty_page", "no_dataset"),
                        ("github_missing", "http_error")):
        lines = [line for line in result.log.splitlines() if f"Input {inputs[key]} gives no record" in line]
        assert len(lines) == 1 and f"({reason})" in lines[0], (key, lines)
        assert result.stats[f"envision/ingest/no_record/{reason}"] >= 1


def test_a_github_repository_gives_its_description_and_release_assets_inspected(web_run):
    result, inputs = web_run
    records = by_input(result)
    repo = records[inputs["github"]]
    assert (repo["source"], repo["source_id"], repo["version"]) == ("github", "eyelab/oct-data", "v2.0")
    assert repo["license"] == "cc-by-4.0" and repo["keywords"] == ["fundus", "retina"]
    assert repo["related_dois"] == ["10.5281/zenodo.424242"] and repo["doi"] is None
    assert [f["name"] for f in repo["files"]] == ["eyes.zip"] and repo["img_count"] == 3  # inspected by Range
    bare = records[inputs["github_no_release"]]
    assert (bare["source_id"], bare["files"], bare["version"]) == ("eyelab/notes", [], None)


# --- arguments -------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    ({"url": "not a url"}, "neither a DOI nor an http(s) URL"),
    ({"urls": "/nonexistent/inputs.txt"}, "cannot be read"),
    ({}, "give -a url=URL"),
])
def test_bad_arguments_fail_before_the_crawl(args, message, tmp_path):
    result = run_crawl("url", tmp_path, args=args)
    assert result.returncode == 2 and message in result.log and "Traceback" not in result.log


def test_one_url_argument(servers, tmp_path):
    record_id = servers["zenodo"].all_records()[4]["id"]
    result = run_crawl("url", tmp_path, settings=api_settings(servers), args={"url": f"10.5281/zenodo.{record_id}"})
    assert result.returncode == 0, result.log
    assert [(i["source"], i["source_id"]) for i in result.items] == [("zenodo", str(record_id))]
    assert result.items[0]["doi"] == f"10.5281/zenodo.{record_id}"


def test_crawlall_leaves_url_out_unless_an_inputs_file_is_set(tmp_path):
    import subprocess

    from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env

    def listed(*settings: str) -> list[str]:
        cmd = scrapy_command("crawlall", "--list", *[a for s in settings for a in ("-s", s)])
        return subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True).stdout.split()

    assert "url" not in listed()
    (tmp_path / "inputs.txt").write_text("10.5281/zenodo.1\n")
    assert "url" in listed(f"ENVISION_INGEST_URLS={tmp_path / 'inputs.txt'}")


# --- Kaggle and NIH RePORTER -----------------------------------------------------------------
class FakeKaggleView(FakeKaggle):
    """The fake Kaggle plus ``GET /api/v1/datasets/view/{owner}/{slug}`` (one ``ApiDataset``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route("view", "GET", r"/api/v1/datasets/view/([^/]+)/([^/]+)", self.view)

    def view(self, call: Call, match: Any) -> Reply:
        if not self._authorized(call):
            return Reply.json({"code": 401, "message": "Unauthenticated"}, 401)
        ref = f"{match.group(1)}/{match.group(2)}"
        found = next((kaggle_dataset(i) for i in range(1, self.n_datasets + 1) if kaggle_dataset(i)["ref"] == ref), None)
        return Reply.json(found) if found else Reply.json({"code": 404, "message": "Not found"}, 404)


class FakeReporterIds(FakeReporter):
    """The fake RePORTER, honouring ``criteria.appl_ids`` as RePORTER does."""

    def search(self, call: Call, match: Any) -> Reply:
        reply = super().search(call, match)
        ids = (json.loads(call.body).get("criteria") or {}).get("appl_ids")
        if ids and reply.status == 200:
            data = json.loads(reply.body)
            data["results"] = [r for r in data["results"] if r["appl_id"] in ids]
            data["meta"]["total"] = len(data["results"])
            return Reply.json(data)
        return reply


def test_kaggle_dataset_and_reporter_project_urls_give_their_spiders_records(tmp_path):
    kaggle, reporter = FakeKaggleView(n_datasets=8), FakeReporterIds(n_projects=10)
    kaggle.start()
    reporter.start()
    try:
        nei_row = next(r for r in reporter.all_rows() if r["agency_ic_admin"]["abbreviation"] == "NEI")
        nci_row = next(r for r in reporter.all_rows() if r["agency_ic_admin"]["abbreviation"] == "NCI")
        inputs = {"kaggle": f"{kaggle.base_url}/datasets/{kaggle_dataset(6)['ref']}",
                  "nei": f"{reporter.base_url}/project-details/{nei_row['appl_id']}",
                  "nci": f"{reporter.base_url}/project-details/{nci_row['appl_id']}"}
        settings = {"KAGGLE_API_URL": f"{kaggle.base_url}/api/v1", "NEI_API_URL": f"{reporter.base_url}/v2"}
        path = tmp_path / "inputs.txt"
        path.write_text("\n".join(inputs.values()))
        result = run_crawl("url", tmp_path, settings=settings, args={"urls": str(path)},
                           env={"KAGGLE_USERNAME": kaggle.username, "KAGGLE_KEY": kaggle.key})
    finally:
        kaggle.stop()
        reporter.stop()
    assert result.returncode == 0, result.log
    records = by_input(result)
    dataset = records[inputs["kaggle"]]
    assert (dataset["source"], dataset["source_id"]) == ("kaggle", kaggle_dataset(6)["ref"])
    assert dataset["file_count"] == len(make_kaggle_files(6))
    grant = records[inputs["nei"]]
    assert (grant["source"], grant["kind"]) == ("nei", "grant") and nei_row["core_project_num"] in grant["source_id"]
    assert inputs["nci"] not in records  # the NEI spider keeps NEI grants only
    assert f"Input {inputs['nci']} gives no record (filtered)" in result.log
