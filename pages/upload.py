"""Upload page (data owners): files and archives, remote archives, reports, trace-back."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from markit_core.access import Action, can
from markit_core.errors import MarkitError
from markit_core.imaging.ingest import IngestReport, ingest
from markit_core.imaging.reference import reference_studies
from markit_core.imaging.remote_archives import list_archives
from markit_core.imaging.remote_import import import_studies, search_studies
from markit_core.imaging.trace import mapping_table
from markit_core.reports import import_reports
from ui.resources import get_settings
from ui.session import show_error
from ui.tables import DASH
from ui.text import plain
from ui.widgets import page_start

SEARCH_KEY = "remote_search_results"

s, user, project = page_start(
    "Upload", Action.UPLOAD, "You are not a data owner of any project.", picker_key="upload_project"
)


def _progress_bar(label: str) -> Callable[[int, int, str], None]:
    bar = st.progress(0.0, text=label)

    def update(done: int, total: int, name: str) -> None:
        bar.progress(done / total if total else 1.0, text=f"{done}/{total} {name}".strip())

    return update


def _import_remote(archive_id: int, study_uids: list[str], *, reference: bool = False) -> None:
    """Retrieve studies from a registered archive into the project, with progress and outcomes.

    ``reference``: leave the images in the archive (fetched on view) instead of copying them.
    """
    run = reference_studies if reference else import_studies
    try:
        result = run(
            s,
            get_settings(),
            user,
            project.id,
            archive_id,
            study_uids,
            _progress_bar("Retrieving..."),
        )
    except MarkitError as e:
        show_error(e)
        return
    for failed in result.failed_studies:
        st.error(f"{plain(failed.study_uid)}: {plain(failed.reason)}")
    _show_report(result.files)


def _show_report(report: IngestReport) -> None:
    (st.success if report.ingested else st.warning)(plain(report.summary()))
    rows = [
        {"file": o.name, "result": o.status, "detail": o.reason or o.warning, "case": o.case_id}
        for o in report.outcomes
    ]
    st.dataframe(
        pd.DataFrame(rows, columns=["file", "result", "detail", "case"]),
        hide_index=True,
        width="stretch",
        key="ingest_outcomes",
        placeholder=DASH,
    )


files_tab, web_tab, pacs_tab, reports_tab, trace_tab = st.tabs(
    ["Files", "DICOMweb archive", "PACS (DIMSE)", "Reports", "Trace-back"]
)

with files_tab:
    st.caption(
        "DICOM files, zip archives of DICOM folders, PNG/JPEG/TIFF. Patient identity is "
        "removed on ingest (DICOM PS3.15 basic profile); the same image is never added twice. "
        "Files are recognised by their content, not their name (PACS exports often have no "
        "suffix); anything else is listed as refused with the reason, here as inside a zip."
    )
    # no ``type=`` filter: the browser would drop other files unseen, while the same file
    # inside a zip is listed as refused; ingest decides for both, by content
    uploads = st.file_uploader("Images", accept_multiple_files=True, key="upload_files")
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


def _archive_picker(kind: str, key: str) -> int | None:
    """A registered archive of ``kind``, by name; data owners never type an address."""
    archives = [a for a in list_archives(s, user) if a.kind == kind]
    if not archives:
        st.info(
            "No archive of this kind is registered. A site administrator registers "
            "archives on the Site admin page (or `python -m markit_core archive add`)."
        )
        return None
    by_id = {a.id: a for a in archives}
    return st.selectbox("Archive", list(by_id), key=key, format_func=lambda i: by_id[i].name)


with web_tab:
    archive = _archive_picker("dicomweb", "dw_archive")
    if archive is not None:
        with st.form("dicomweb_form"):
            f1, f2, f3 = st.columns(3)
            patient = f1.text_input("PatientID", key="dw_patient")
            date = f2.text_input("StudyDate (YYYYMMDD or range)", key="dw_date")
            modality = f3.text_input("ModalitiesInStudy", key="dw_modality")
            searched = st.form_submit_button("Search", type="primary", key="dw_search")
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
                st.session_state[SEARCH_KEY] = (
                    archive,
                    [vars(r) for r in search_studies(s, user, project.id, archive, **filters)],
                )
            except MarkitError as e:
                show_error(e)
        searched_in, found = st.session_state.get(SEARCH_KEY) or (None, [])
        if found and searched_in == archive:
            picked = st.dataframe(
                pd.DataFrame(found),
                key="dw_results",
                hide_index=True,
                on_select="rerun",
                selection_mode="multi-row",
                width="stretch",
                placeholder=DASH,
            )
            chosen = [found[i]["study_uid"] for i in picked.selection.rows]
            keep = st.toggle(
                "Leave the images in the archive",
                key="dw_reference",
                help="Reference the studies instead of copying them: each view fetches the "
                "image from the archive (WADO-RS), de-identified the same way, and keeps it "
                "in a size-limited local cache. Viewing then needs the archive to be up.",
            )
            verb = "Reference" if keep else "Import"
            if st.button(
                f"{verb} {len(chosen)} selected studies", key="dw_import", disabled=not chosen
            ):
                _import_remote(archive, chosen, reference=keep)

with pacs_tab:
    pacs = _archive_picker("dimse", "pacs_archive")
    if pacs is not None:
        with st.form("dimse_form"):
            uids = st.text_area("Study Instance UIDs (one per line)", key="pacs_uids")
            pulled = st.form_submit_button(
                "Import (C-FIND + C-GET)", type="primary", key="pacs_import"
            )
        if pulled:
            _import_remote(pacs, uids.split())

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
                    placeholder=DASH,
                )

with trace_tab:
    if can(s, user, project.id, Action.TRACE_IDENTITY):
        st.caption(
            "Original identifiers and their pseudonyms in this project. Annotators never "
            "see this table; every time it is shown is logged, and owners see who looked."
        )
        if st.button("Show original identifiers", key="trace_show", icon=":material/visibility:"):
            st.dataframe(
                pd.DataFrame(
                    [vars(r) for r in mapping_table(s, user, project.id)],
                    columns=["kind", "original", "pseudonym"],
                ),
                hide_index=True,
                width="stretch",
                key="trace_table",
                placeholder=DASH,
            )
    else:
        st.info("Only data owners and owners can trace cases back to their origin.")
s.close()
