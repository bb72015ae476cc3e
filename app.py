"""MarkIt — router only: page config, login gate, and the role-dependent page list."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from markit_core.access import Action, can
from markit_core.allocator import keep_freed_memory
from markit_core.errors import MarkitError
from markit_core.projects import list_projects
from markit_core.threads import prompt_switching
from ui.session import close_run_sessions, current_user, db, keep_cookie, show_error, sign_out
from ui.text import plain
from ui.warmup import import_in_background

# a file in the repository, served by this server: an emoji or :material: icon would make
# the browser fetch the favicon from a CDN
FAVICON = Path(__file__).parent / "ui" / "static" / "favicon.png"
st.set_page_config(page_title="MarkIt", page_icon=str(FAVICON), layout="wide")
import_in_background()  # the reading pages' imports, while the login page is on screen
keep_freed_memory()  # once per process: large review and reward runs reuse their memory
prompt_switching()  # a reader's short tasks do not queue behind long ones

# (file, title, icon, actions of which the user must hold one in some project; () = everyone)
PAGES: tuple[tuple[str, str, str, tuple[Action, ...]], ...] = (
    ("pages/annotate.py", "Annotate", ":material/edit:", (Action.ANNOTATE,)),
    # annotators reach the review page for calibration (their answers vs the others')
    ("pages/review_heatmap.py", "Review", ":material/grid_on:", (Action.REVIEW, Action.ANNOTATE)),
    ("pages/upload.py", "Upload", ":material/upload:", (Action.UPLOAD,)),
    ("pages/ai_assist.py", "AI assist", ":material/smart_toy:", (Action.USE_AI,)),
    ("pages/rewards.py", "Rewards", ":material/payments:", (Action.REWARDS,)),
    ("pages/project_admin.py", "Projects", ":material/settings:", ()),
)

with db() as s:
    user = current_user(s)
    if user is None:
        pages = [st.Page("pages/login.py", title="Log in", icon=":material/login:")]
    else:
        projects = list_projects(s, user)
        allowed = {a for a in Action for p in projects if can(s, user, p.id, a)}
        pages = [
            st.Page(f, title=t, icon=i)
            for f, t, i, acts in PAGES
            if not acts or allowed.intersection(acts)
        ]
        pages.append(st.Page("pages/account.py", title="My account", icon=":material/person:"))
        if user.is_admin:
            pages.append(
                st.Page(
                    "pages/site_admin.py",
                    title="Site admin",
                    icon=":material/admin_panel_settings:",
                )
            )
        st.sidebar.caption(
            f"Signed in as **{plain(user.display_name or user.username)}**"
            + (" (demo account)" if user.is_demo else "")
        )
        if st.sidebar.button("Log out", key="logout", icon=":material/logout:"):
            sign_out("You have been logged out.")
            st.rerun()

keep_cookie()
try:
    st.navigation(pages).run()
except MarkitError as e:  # the page edge: anything a page did not catch itself
    show_error(e)
finally:
    close_run_sessions()
