"""Write or clear the login cookie from the browser (Streamlit can read cookies but not set them).

A tiny components-v2 element: its JavaScript sets ``document.cookie`` when the value
differs from what the browser holds, so mounting it on every run costs nothing.
The cookie is ``SameSite=Strict``, ``Secure`` on https, and path ``/``; being set from
JavaScript it cannot be HttpOnly, which is why the server stores only its hash and
it expires with the server-side session.
"""

from __future__ import annotations

import streamlit as st

_JS = """
export default function ({ data }) {
  if (!data || !data.name) return;
  const current = document.cookie.split('; ').find((c) => c.startsWith(data.name + '='));
  const value = current ? decodeURIComponent(current.slice(data.name.length + 1)) : '';
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  if (data.value) {
    if (value === data.value) return;
    document.cookie = `${data.name}=${encodeURIComponent(data.value)}; path=/; ` +
      `max-age=${data.max_age}; SameSite=Strict${secure}`;
  } else if (current) {
    document.cookie = `${data.name}=; path=/; max-age=0; SameSite=Strict${secure}`;
  }
}
"""

_cookie = st.components.v2.component("markit.cookie", js=_JS)


def write_cookie(name: str, value: str | None, max_age_seconds: int) -> None:
    """Set the cookie ``name`` to ``value`` in the browser, or remove it when ``value`` is None."""
    _cookie(
        key=f"cookie_{name}",
        data={"name": name, "value": value or "", "max_age": int(max_age_seconds)},
        width=1,
        height=1,
    )
