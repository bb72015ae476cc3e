"""Upload page (data owners): files and archives, remote archives, reports, trace-back."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from markit_core.access import Action, can
from markit_core.errors import MarkitError
from markit_core.imaging.ingest import IngestReport, ingest
from markit_core.imaging.remote_import import import_studies, search_studies
from markit_core.imaging.trace import mapping_table
from markit_core.reports import import_reports
from ui.resources import get_settings
from ui.session import show_error
from ui.widgets import page_start

RASTER_AND_DICOM = ["dcm", "dicom", "zip", "png", "jpg", "jpeg", "tif", "tiff", "bmp"]
SEARCH_KEY = "remote_search_results"

s, user, project = page_start(
    "Upload", Action.UPLOAD, "You are not a data owner of any project.", picker_key="upload_project"
)


def _progress_bar(label: str) -> Callable[[int, int, str], None]:
    bar = st.progress(0.0, text=label)

    def update(done: int, total: int, name: str) -> None:
        bar.progress(done / total if total else 1.0, text=f"{done}/{total} {name}".strip())

    return update


def _import_remote(source, study_uids: list[str]) -> None:
    """Retrieve studies from a remote source into the project, with progress and outcomes."""
    try:
        result = import_studies(
            s, get_settings(), user, project.id, source, study_uids, _progress_bar("Retrieving...")
        )
    except MarkitError as e:
        show_error(e)
        return
    for failed in result.failed_studies:
        st.error(f"{failed.study_uid}: {failed.reason}")
    _show_report(result.files)


def _show_report(report: IngestReport) -> None:
    (st.success if report.ingested else st.warning)(report.summary())
    rows = [
        {"file": o.name, "result": o.status, "detail": o.reason or o.warning, "case": o.case_id}
        for o in report.outcomes
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="ingest_outcomes")


files_tab, web_tab, pacs_tab, reports_tab, trace_tab = st.tabs(
    ["Files", "DICOMweb archive", "PACS (DIMSE)", "Reports", "Trace-back"]
)

with files_tab:
    st.caption(
        "DICOM files, zip archives of DICOM folders, PNG/JPEG/TIFF. Patient identity is "
        "removed on ingest (DICOM PS3.15 basic profile); the same image is never added twice."
    )
    uploads = st.file_uploader(
        "Images", type=RASTER_AND_DICOM, accept_multiple_files=True, key="upload_files"
    )
    if st.button("Ingest", key="ingest_button", type="primary", disabled=not uploads):
        try:
            report = ingest(
                s,
                get_settings(),
                user,
                project.id,
                [(f.name, f.getvalue()) for f in uploads or []],
                _progress_bar("Ingesting..."),
            )
        except MarkitError as e:
            show_error(e)
        else:
            _show_report(report)

with web_tab:
    with st.form("dicomweb_form"):
        url = st.text_input("DICOMweb URL", key="dw_url", placeholder="https://archive/dicom-web")
        auth = st.radio(
            "Authentication",
            ["none", "user/password", "bearer token"],
            horizontal=True,
            key="dw_auth",
        )
        c1, c2 = st.columns(2)
        username = c1.text_input("User", key="dw_user")
        secret = c2.text_input("Password or token", type="password", key="dw_secret")
        f1, f2, f3 = st.columns(3)
        patient = f1.text_input("PatientID", key="dw_patient")
        date = f2.text_input("StudyDate (YYYYMMDD or range)", key="dw_date")
        modality = f3.text_input("ModalitiesInStudy", key="dw_modality")
        searched = st.form_submit_button("Search", type="primary", key="dw_search")

    def _source():
        from markit_core.imaging.sources.dicomweb import DicomWebSource

        kw = (
            {"username": username, "password": secret}
            if auth == "user/password"
            else {"token": secret}
            if auth == "bearer token"
            else {}
        )
        return DicomWebSource(url.strip(), **kw)

    if searched:
        filters = {
            k: v.strip()
            for k, v in (
                ("PatientID", patient),
                ("StudyDate", date),
                ("ModalitiesInStudy", modality),
            )
            if v.strip()
        }
        try:
            st.session_state[SEARCH_KEY] = [
                vars(r) for r in search_studies(s, user, project.id, _source(), **filters)
            ]
        except MarkitError as e:
            show_error(e)
    found = st.session_state.get(SEARCH_KEY) or []
    if found:
        picked = st.dataframe(
            pd.DataFrame(found),
            key="dw_results",
            hide_index=True,
            on_select="rerun",
            selection_mode="multi-row",
            width="stretch",
        )
        chosen = [found[i]["study_uid"] for i in picked.selection.rows]
        if st.button(
            f"Import {len(chosen)} selected studies", key="dw_import", disabled=not chosen
        ):
            try:
                source = _source()
            except MarkitError as e:
                show_error(e)
            else:
                _import_remote(source, chosen)

with pacs_tab:
    with st.form("dimse_form"):
        c1, c2, c3, c4 = st.columns([3, 1, 2, 2])
        host = c1.text_input("Host", key="pacs_host")
        port = c2.number_input("Port", 1, 65535, 104, key="pacs_port")
        called = c3.text_input("Called AE title", key="pacs_called")
        calling = c4.text_input("Our AE title", "MARKIT", key="pacs_calling")
        uids = st.text_area("Study Instance UIDs (one per line)", key="pacs_uids")
        pulled = st.form_submit_button("Import (C-FIND + C-GET)", type="primary", key="pacs_import")
    if pulled:
        from markit_core.imaging.sources.dimse import DimseSource

        try:
            source = DimseSource(host.strip(), int(port), called.strip(), calling.strip())
        except MarkitError as e:
            show_error(e)
        else:
            _import_remote(source, uids.split())

with reports_tab:
    st.caption(
        "CSV with a header `case_id,report`, `accession,report`, `study_uid,report`, or "
        "`key,report` (an accession or study UID, original or de-identified)."
    )
    csv_file = st.file_uploader("Reports CSV", type=["csv"], key="reports_file")
    if st.button("Import reports", key="reports_import", disabled=csv_file is None):
        try:
            res = import_reports(s, user, project.id, csv_file.getvalue(), name=csv_file.name)
        except MarkitError as e:
            show_error(e)
        else:
            st.success(
                f"{res.rows} rows: {res.matched_rows} matched, {res.reports_added} reports "
                f"added, {res.unchanged} unchanged, {len(res.unmatched)} unmatched"
            )
            if res.unmatched:
                st.dataframe(
                    pd.DataFrame([vars(u) for u in res.unmatched]),
                    hide_index=True,
                    key="reports_unmatched",
                )

with trace_tab:
    if can(s, user, project.id, Action.TRACE_IDENTITY):
        st.caption(
            "Original identifiers and their pseudonyms in this project. Annotators never "
            "see this table."
        )
        st.dataframe(
            pd.DataFrame([vars(r) for r in mapping_table(s, user, project.id)]),
            hide_index=True,
            width="stretch",
            key="trace_table",
        )
    else:
        st.info("Only data owners and owners can trace cases back to their origin.")
s.close()
