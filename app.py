"""Omni Metrics dashboard: navigation over pages/, the shared sidebar, share-link handling. Nothing else."""

from pathlib import Path

import streamlit as st

from omni_metrics.ui_state import PAGES
from pages._shared import locale, open_page, render_sidebar

st.set_page_config(page_title="Omni Metrics", page_icon=":material/insights:", layout="wide")

HERE = Path(__file__).resolve().parent

render_sidebar()
loc = locale()
# An analysis page joins the navigation once its file exists.
pages = {stem: st.Page(f"pages/{stem}.py", title=loc.t(title), icon=icon, url_path=stem)
         for stem, title, icon in PAGES if (HERE / "pages" / f"{stem}.py").exists()}
current = st.navigation(list(pages.values()), position="top")
# A share link (or `?page=`) names the page it opens on: go there once; after that the address path rules.
if (wanted := open_page()) in pages and pages[wanted] is not current:
    st.switch_page(pages[wanted], query_params=st.query_params.to_dict())
st.session_state["_page"] = current.url_path or "overview"  # view() computes the models only where they show
current.run()
