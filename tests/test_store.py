"""The store on SQLite and, where OMNI_TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import os
import secrets
from datetime import date, timedelta

import polars as pl
import pytest
import sqlalchemy as sa

from omni_metrics.downloads import to_csv_bytes
from omni_metrics.store import SAMPLE_OWNER, ShareLinkRow, Store, token_hash

PG_URL = os.environ.get("OMNI_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield Store(data_dir=tmp_path)
        return
    if not PG_URL:
        pytest.skip("PostgreSQL store tests need OMNI_TEST_DATABASE_URL (set by .ci/run)")
    schema = f"omni_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Store(PG_URL, tmp_path, engine_options={"connect_args": {"options": f"-csearch_path={schema}"}})
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _tables():
    orders = pl.DataFrame({"order_id": ["1", "2"], "customer_id": ["007", "7"], "revenue": [10.5, 3.0]})
    return {"orders": orders}


def test_dataset_round_trip_with_mappings(store):
    mapping = {"pos.csv": ("orders", {"order_id": "Sipariş No", "customer_id": "Müşteri No"})}
    ds = store.save_dataset("Shop", _tables(), owner="me", mappings=mapping, reports=[{"file": "pos.csv"}],
                            currency="TRY")
    assert len(ds) >= 20  # unguessable
    assert store.load_tables(ds)["orders"].equals(_tables()["orders"])
    info = store.dataset(ds)
    assert (info.name, info.currency, info.tables, info.reports) == ("Shop", "TRY", ["orders"], [{"file": "pos.csv"}])
    assert store.mappings(ds) == mapping
    assert [d.id for d in store.datasets_for("me")] == [ds]
    assert store.datasets_for("someone else") == []
    assert not store.delete_dataset(ds, owner="someone else")
    assert store.delete_dataset(ds, owner="me")
    assert store.dataset(ds) is None and not (store.data_dir / "datasets" / ds).exists()


def test_interrupted_write_leaves_nothing(store):
    class Boom(pl.DataFrame):
        def write_parquet(self, *args, **kwargs):
            raise OSError("disk full")

    tables = {"orders": _tables()["orders"], "zz_broken": Boom({"a": [1]})}
    with pytest.raises(OSError):
        store.save_dataset("Half", tables, owner="me", dataset_id="half-written")
    assert store.dataset("half-written") is None
    assert store.datasets_for("me") == []
    assert list((store.data_dir / "datasets").iterdir()) == []


def test_failed_transaction_removes_the_files(store):
    # The files are in place when the transaction fails (a mapping without a source breaks NOT NULL).
    with pytest.raises(sa.exc.IntegrityError):
        store.save_dataset("B", _tables(), owner="me", dataset_id="tx-fails",
                           mappings={"f.csv": ("orders", {"order_id": None})})
    assert store.dataset("tx-fails") is None
    assert list((store.data_dir / "datasets").iterdir()) == []


def test_share_links_resolve_revoke_expire(store):
    ds = store.save_dataset("Shop", _tables(), owner="me")
    token = store.create_link(ds, {"period": "week", "channels": "web,store"})
    link = store.resolve_link(token)
    assert link.dataset_id == ds and link.view == {"period": "week", "channels": "web,store"}
    # Only the hash is stored.
    with sa.orm.Session(store.engine) as session:
        stored = session.scalars(sa.select(ShareLinkRow.token_hash)).all()
    assert stored == [token_hash(token)] and token not in stored
    assert store.resolve_link("made-up-token") is None and store.resolve_link("") is None
    assert store.revoke_link(link.id)
    assert store.resolve_link(token) is None
    expired = store.create_link(ds, {}, expires_in=timedelta(seconds=-1))
    assert store.resolve_link(expired) is None
    fresh = store.create_link(ds, {}, expires_in=timedelta(days=7), created_by="me")
    assert store.resolve_link(fresh) is not None
    assert len(store.links_for(ds)) == 3
    # A browser lists and revokes only the links it made.
    (mine,) = store.links_for(ds, created_by="me")
    assert store.links_for(ds, created_by="other") == []
    assert not store.revoke_link(mine.id, created_by="other") and store.resolve_link(fresh) is not None
    assert store.revoke_link(mine.id, created_by="me") and store.resolve_link(fresh) is None
    assert not store.revoke_link("no-such-link")


def test_sample_dataset_is_stored_once(tmp_path):
    store = Store(data_dir=tmp_path)
    first = store.sample_dataset_id()
    assert store.sample_dataset_id() == first
    info = store.dataset(first)
    assert info.owner == SAMPLE_OWNER and info.currency == "TRY"
    assert set(info.tables) == {"interactions", "orders", "surveys", "spend", "customers"}
    assert not store.delete_dataset(first, owner=SAMPLE_OWNER)


def test_csv_download_escapes_formulas_but_not_numbers():
    frame = pl.DataFrame({"name": ["=HYPERLINK(1)", "+90 555", "-x", "@SUM", "ok", None], "n": [-1, 2, 3, 4, 5, 6]})
    text = to_csv_bytes(frame).decode("utf-8-sig")
    assert text.splitlines() == ["name,n", "'=HYPERLINK(1),-1", "'+90 555,2", "'-x,3", "'@SUM,4", "ok,5", ",6"]


def test_csv_download_escapes_tab_cr_and_categorical_text():
    frame = pl.DataFrame({
        "t": ["\tcmd", "\rcmd", "a=b"],
        "c": pl.Series(["=1+1", "x", "y"], dtype=pl.Categorical),
        "when": [date(2024, 1, 2)] * 3,
        "path": [["web", "store"], ["=app"], []],
    })
    text = to_csv_bytes(frame).decode("utf-8-sig")
    assert text.splitlines()[1] == "'\tcmd,'=1+1,2024-01-02,web > store"
    assert "\"'\rcmd\",x,2024-01-02,'=app" in text  # a CR in a cell is quoted, and escaped
    assert text.splitlines()[-1] == "a=b,y,2024-01-02,\"\""  # "=" inside a cell is harmless


def test_stale_staging_folders_are_swept(tmp_path):
    stale = tmp_path / "datasets" / ".staging-old-1234"
    stale.mkdir(parents=True)
    (stale / "orders.parquet").write_bytes(b"half")
    os.utime(stale, (0, 0))
    fresh = tmp_path / "datasets" / ".staging-new-5678"
    fresh.mkdir()
    Store(data_dir=tmp_path)
    assert not stale.exists() and fresh.exists()  # a fresh one may belong to a write still running
