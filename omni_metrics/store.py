"""Datasets and share links: table data as Parquet under OMNI_DATA_DIR, metadata in the database (SQLAlchemy).

A dataset is visible only once all of it is stored: its Parquet files are written to a temporary folder that is
renamed into place, and then its metadata row and column mappings are inserted in one transaction. A failure at
any step leaves neither a row nor a folder behind. Share links are stored only as the SHA-256 hash of their
token: whoever reads the database cannot open a link.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, create_engine, delete, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

SAMPLE_OWNER = "sample"
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"


class Base(DeclarativeBase):
    pass


class DatasetRow(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    tables: Mapped[list[str]] = mapped_column(JSON)
    rows: Mapped[dict[str, Any]] = mapped_column(JSON)
    reports: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))


class ColumnMappingRow(Base):
    __tablename__ = "column_mappings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    file: Mapped[str] = mapped_column(String(500))
    table_name: Mapped[str] = mapped_column(String(32))
    column: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(500))


class ShareLinkRow(Base):
    __tablename__ = "share_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(64), index=True)
    view: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    name: str
    owner: str
    created_at: datetime
    tables: list[str]
    rows: dict[str, Any]
    reports: list[dict[str, Any]]
    currency: str
    timezone: str


@dataclass(frozen=True)
class ShareLink:
    id: str
    dataset_id: str
    created_by: str
    view: dict[str, str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime | None = None) -> bool:
        now = now or _now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _now() -> datetime:
    # Naive UTC everywhere: SQLite forgets time zones, and one convention keeps comparisons right on both.
    return datetime.now(UTC).replace(tzinfo=None)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def default_data_dir() -> Path:
    return Path(os.environ.get("OMNI_DATA_DIR") or ".omni")


def default_database_url(data_dir: Path) -> str:
    return os.environ.get("OMNI_DATABASE_URL") or f"sqlite:///{(data_dir / 'omni.db').resolve()}"


def migrate(engine: Engine) -> None:
    """Bring the database schema to the latest Alembic revision (creates the tables on first use)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several app processes may start at once: one migrates, the others wait and find it done.
            connection.execute(text("SELECT pg_advisory_xact_lock(7460201)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")



def read_table(path: Path) -> pl.DataFrame:
    """A stored table, its columns in one piece each. Parquet comes back in one chunk per row group, and the
    first `with_columns` of the report on such a frame copies every column to line them up (two extra GB and a
    second at a million customers). The store writes one row group, so this costs nothing on its own files;
    on other Parquet files (bench/report.py reads the generator's) the copy is made here, once per dataset."""
    return pl.read_parquet(path).rechunk()

class Store:
    """Where datasets and share links live; see the module docstring for the guarantees."""

    def __init__(self, database_url: str | None = None, data_dir: str | Path | None = None,
                 engine_options: Mapping[str, Any] | None = None):
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        (self.data_dir / "datasets").mkdir(parents=True, exist_ok=True)
        self._sweep_staging()
        self.engine = create_engine(database_url or default_database_url(self.data_dir),
                                    **dict(engine_options or {}))
        migrate(self.engine)

    # --- datasets -----------------------------------------------------------------------------------------

    def _sweep_staging(self, older_than: timedelta = timedelta(days=1)) -> None:
        """Remove staging folders a killed process left behind (never listed, so only disk space is at stake);
        a day's margin keeps clear of a write still running in another process."""
        cutoff = datetime.now().timestamp() - older_than.total_seconds()
        for path in (self.data_dir / "datasets").glob(".staging-*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)

    def _dir(self, dataset_id: str) -> Path:
        return self.data_dir / "datasets" / dataset_id

    def save_dataset(self, name: str, tables: Mapping[str, pl.DataFrame], *, owner: str,
                     mappings: Mapping[str, tuple[str, Mapping[str, str]]] | None = None,
                     reports: list[dict[str, Any]] | None = None, rows: Mapping[str, Any] | None = None,
                     currency: str | None = None, timezone: str = "UTC", dataset_id: str | None = None) -> str:
        """Store the tables; returns the new dataset's id. `mappings`: {file: (table, {canonical: header})}."""
        dataset_id = dataset_id or secrets.token_urlsafe(16)
        final = self._dir(dataset_id)
        staging = self.data_dir / "datasets" / f".staging-{dataset_id}-{secrets.token_hex(4)}"
        staging.mkdir(parents=True)
        try:
            for table, frame in tables.items():
                # one row group: read back as one chunk per column (see read_table), no copy to line them up
                frame.write_parquet(staging / f"{table}.parquet", row_group_size=max(1, frame.height))
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        row = DatasetRow(
            id=dataset_id, name=name, owner=owner, created_at=_now(), tables=sorted(tables),
            rows=dict(rows or {t: {"used": f.height} for t, f in tables.items()}), reports=list(reports or []),
            currency=currency or "USD", timezone=timezone,
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
                session.flush()
                for file, (table, mapping) in (mappings or {}).items():
                    session.add_all(
                        ColumnMappingRow(dataset_id=dataset_id, file=file, table_name=table, column=column,
                                         source=source)
                        for column, source in mapping.items()
                    )
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        return dataset_id

    def dataset(self, dataset_id: str) -> DatasetInfo | None:
        with Session(self.engine) as session:
            row = session.get(DatasetRow, dataset_id)
            return _info(row) if row else None

    def datasets_for(self, owner: str) -> list[DatasetInfo]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(DatasetRow).where(DatasetRow.owner == owner).order_by(DatasetRow.created_at.desc())
            )
            return [_info(r) for r in rows]

    def mappings(self, dataset_id: str) -> dict[str, tuple[str, dict[str, str]]]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(ColumnMappingRow).where(ColumnMappingRow.dataset_id == dataset_id)
                .order_by(ColumnMappingRow.id)
            )
            out: dict[str, tuple[str, dict[str, str]]] = {}
            for r in rows:
                out.setdefault(r.file, (r.table_name, {}))[1][r.column] = r.source
            return out

    def load_tables(self, dataset_id: str) -> dict[str, pl.DataFrame]:
        info = self.dataset(dataset_id)
        if info is None:
            raise KeyError(dataset_id)
        return {t: read_table(self._dir(dataset_id) / f"{t}.parquet") for t in info.tables}

    def table_paths(self, dataset_id: str) -> dict[str, Path]:
        info = self.dataset(dataset_id)
        if info is None:
            raise KeyError(dataset_id)
        return {t: self._dir(dataset_id) / f"{t}.parquet" for t in info.tables}

    def delete_dataset(self, dataset_id: str, owner: str) -> bool:
        """Delete a dataset (and its links) if `owner` uploaded it; the sample cannot be deleted."""
        with Session(self.engine) as session, session.begin():
            row = session.get(DatasetRow, dataset_id)
            if row is None or row.owner != owner or owner == SAMPLE_OWNER:
                return False
            session.execute(delete(ShareLinkRow).where(ShareLinkRow.dataset_id == dataset_id))
            session.execute(delete(ColumnMappingRow).where(ColumnMappingRow.dataset_id == dataset_id))
            session.delete(row)
        shutil.rmtree(self._dir(dataset_id), ignore_errors=True)
        return True

    def sample_dataset_id(self, sample_dir: Path = SAMPLE_DIR) -> str:
        """The built-in sample as a stored dataset, loaded once (its id follows the sample files' bytes)."""
        from omni_metrics.loading import SUPPORTED_SUFFIXES, load_files

        files = sorted(p for p in sample_dir.iterdir()
                       if any(p.name.lower().endswith(s) for s in SUPPORTED_SUFFIXES))
        digest = hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()[:16]
        dataset_id = f"sample-{digest}"
        if self.dataset(dataset_id) is None:
            loaded = load_files(files)
            try:
                self.save_dataset(
                    "Sample: omnichannel retailer", loaded.tables, owner=SAMPLE_OWNER, dataset_id=dataset_id,
                    mappings={r.file: (r.table, r.mapping) for r in loaded.reports},
                    reports=[r.to_dict() for r in loaded.reports], rows=loaded.rows(), currency="TRY",
                )
            except (IntegrityError, OSError):
                # Another session stored it at the same moment: theirs is the same data.
                if self.dataset(dataset_id) is None:
                    raise
        return dataset_id

    # --- share links --------------------------------------------------------------------------------------

    def create_link(self, dataset_id: str, view: Mapping[str, str], expires_in: timedelta | None = None, *,
                    created_by: str = "") -> str:
        """A new share link to `dataset_id` showing `view`; returns the token (only its hash is stored).
        `created_by` is the owner key of the browser that made it: only it lists and revokes the link."""
        token = secrets.token_urlsafe(32)
        now = _now()
        with Session(self.engine) as session, session.begin():
            if session.get(DatasetRow, dataset_id) is None:
                raise KeyError(dataset_id)
            session.add(ShareLinkRow(
                id=secrets.token_urlsafe(9), token_hash=token_hash(token), dataset_id=dataset_id,
                created_by=created_by,
                view={str(k): str(v) for k, v in view.items()}, created_at=now,
                expires_at=now + expires_in if expires_in else None,
            ))
        return token

    def resolve_link(self, token: str | None) -> ShareLink | None:
        """The link a token opens, or None when it is revoked, expired or unknown."""
        if not token:
            return None
        with Session(self.engine) as session:
            row = session.scalars(select(ShareLinkRow).where(ShareLinkRow.token_hash == token_hash(token))).first()
            link = _link(row) if row else None
        return link if link and link.active() else None

    def revoke_link(self, link_id: str, created_by: str | None = None) -> bool:
        """Revoke a link (from now on it opens nothing); with `created_by`, only a link that browser made."""
        with Session(self.engine) as session, session.begin():
            row = session.get(ShareLinkRow, link_id)
            if row is None or row.revoked_at is not None or created_by not in (None, row.created_by):
                return False
            row.revoked_at = _now()
            return True

    def links_for(self, dataset_id: str, created_by: str | None = None) -> list[ShareLink]:
        """The links to a dataset, newest first; with `created_by`, only those that browser made."""
        query = select(ShareLinkRow).where(ShareLinkRow.dataset_id == dataset_id)
        if created_by is not None:
            query = query.where(ShareLinkRow.created_by == created_by)
        with Session(self.engine) as session:
            rows = session.scalars(query.order_by(ShareLinkRow.created_at.desc(), ShareLinkRow.id))
            return [_link(r) for r in rows]


def _info(row: DatasetRow) -> DatasetInfo:
    return DatasetInfo(row.id, row.name, row.owner, row.created_at, list(row.tables), dict(row.rows),
                       list(row.reports), row.currency, row.timezone)


def _link(row: ShareLinkRow) -> ShareLink:
    return ShareLink(row.id, row.dataset_id, row.created_by, dict(row.view), row.created_at, row.expires_at, row.revoked_at)
