"""The export section of the projects page: signing key, export with audit bundle, STOW-RS.

Widgets only; every action is one ``markit_core`` call. The bundle is written
under the data folder (``exports/``) and offered as one zip download.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import streamlit as st
from sqlmodel import Session

from markit_core.access import Action, can, roles_of
from markit_core.audit.keys import active_key, create_signing_key
from markit_core.errors import MarkitError
from markit_core.export.bundle_export import FORMATS, export_bundle
from markit_core.models import Role, User, utcnow
from ui.resources import get_settings
from ui.session import show_error

BUNDLE_KEY = "export_bundle_ready"  # (project id, zip path, has SRs)


def _key_form(s: Session, user: User, project_id: int) -> None:
    if not (user.is_admin or Role.OWNER in roles_of(s, user, project_id)):
        st.info(
            "Exports are signed with the project owner's key; the owner has not created it yet."
        )
        return
    st.caption("Create the project's signing key. Only its passphrase can unlock it: keep it safe.")
    with st.form("signing_key_form"):
        first = st.text_input("Passphrase", type="password", key="key_passphrase")
        again = st.text_input("Passphrase again", type="password", key="key_passphrase_again")
        if st.form_submit_button("Create signing key", key="key_create"):
            if first != again:
                st.error("The two passphrases differ.")
                return
            try:
                info = create_signing_key(s, user, project_id, first)
            except MarkitError as e:
                show_error(e)
            else:
                st.success(f"Signing key {info.key_id[:16]}… created.")


def _run_export(
    s: Session, user: User, project_id: int, formats: list[str], truth: str, passphrase: str
) -> None:
    settings = get_settings()
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    out = Path(settings.data_dir) / "exports" / f"project{project_id}-{stamp}"
    bar = st.progress(0.0, text="exporting")

    def progress(done: int, total: int, what: str) -> None:
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{what}: {done} of {total}")

    try:
        result = export_bundle(
            s,
            user,
            project_id,
            out,
            passphrase=passphrase,
            formats=formats,
            truth=truth,
            settings=settings,
            progress=progress,
        )
    except MarkitError as e:
        show_error(e)
        return
    archive = shutil.make_archive(str(out), "zip", root_dir=out)
    st.session_state[BUNDLE_KEY] = (project_id, archive, str(out), "sr" in formats)
    st.success(
        f"Exported {len(result.files)} files; ledger entry {result.export_seq}, "
        f"tree head of size {result.head.tree_size} signed."
    )


def _stow_form(s: Session, user: User, project_id: int, folder: str) -> None:
    with st.form("stow_form"):
        url = st.text_input("DICOMweb archive URL", key="stow_url")
        username = st.text_input("User (optional)", key="stow_user")
        password = st.text_input("Password", type="password", key="stow_password")
        if st.form_submit_button("Send the SRs (STOW-RS)", key="stow_send"):
            from markit_core.export.stow import stow_srs
            from markit_core.imaging.sources.dicomweb import DicomWebSource

            try:
                source = DicomWebSource(
                    url, username=username or None, password=password if username else None
                )
                sent = stow_srs(s, user, project_id, Path(folder), source)
            except MarkitError as e:
                show_error(e)
            else:
                st.success(f"Stored {len(sent.sop_uids)} SR(s) in {sent.url}.")


def export_section(s: Session, user: User, project_id: int, project_name: str) -> None:
    """Render the export-with-audit-bundle section for users who may export."""
    if not can(s, user, project_id, Action.EXPORT):
        return
    st.markdown("**Export with audit bundle**")
    key = active_key(s, project_id, required=False)
    if key is None:
        _key_form(s, user, project_id)
        return
    st.download_button(
        "Public key (PEM)",
        key.public_key,
        file_name=f"{project_name}-key.pem",
        key="public_key_download",
    )
    formats = st.multiselect(
        "Formats", FORMATS, default=["csv", "coco", "consensus"], key="bundle_formats"
    )
    truth = st.selectbox("Consensus rule", ["majority", "dawid_skene"], key="bundle_truth")
    passphrase = st.text_input("Signing passphrase", type="password", key="bundle_passphrase")
    if st.button("Export with audit bundle", key="bundle_export", icon=":material/inventory_2:"):
        _run_export(s, user, project_id, formats, truth, passphrase)
    ready = st.session_state.get(BUNDLE_KEY)
    if ready and ready[0] == project_id:
        with open(ready[1], "rb") as f:
            st.download_button(
                "Download the bundle (zip)",
                f,
                file_name=Path(ready[1]).name,
                mime="application/zip",
                key="bundle_download",
            )
        st.caption(
            "Anyone can check it offline: `python -m markit_core ledger verify-bundle "
            "DIR --public-key KEY.pem`."
        )
        if ready[3]:
            _stow_form(s, user, project_id, ready[2])
