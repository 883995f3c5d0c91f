"""The service's settings: each layer's own settings, composed from config.yml and FAQBOT_*.

Environment variables win over the file; the file documents every key. Each layer declares what
it needs with its own defaults (knowledge/settings.py, embeddings/settings.py, bot/settings.py);
this module adds what only the HTTP service needs (where it listens, the data directory, the Rasa
process, the chat rate limit, the web pages and staff sign-in) and is the only place that reads config.yml or the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from bot.settings import BotConfig, ConversationSettings, EmergencySettings, HelplineSettings
from embeddings.settings import EncoderSettings, RetrainSettings, RetrievalSettings
from knowledge.settings import ValidationSettings

REPO_ROOT = Path(__file__).resolve().parent.parent


def config_path() -> Path:
    return Path(os.environ.get("FAQBOT_CONFIG") or REPO_ROOT / "config.yml")


def profile_path() -> Path | None:
    """The profile file laid over config.yml: FAQBOT_PROFILE=prod reads config.prod.yml (or a path)."""
    profile = os.environ.get("FAQBOT_PROFILE", "").strip()
    if not profile:
        return None
    path = Path(profile) if profile.endswith((".yml", ".yaml")) else REPO_ROOT / f"config.{profile}.yml"
    if not path.exists():
        raise FileNotFoundError(f"FAQBOT_PROFILE={profile!r}: there is no {path}")
    return path


class RasaSettings(BaseModel):
    """The Rasa server the API runs beside itself (config.yml `bot:`)."""

    enabled: bool = True
    model_dir: str = ""
    timeout_seconds: float = Field(10, gt=0)


class ChatSettings(BaseModel):
    rate_limit_per_minute: int = Field(60, ge=0)


class SearchSettings(BaseModel):
    """Staff search (config.yml `search:`)."""

    # Searches one client may make per minute; 0 turns the limit off.
    rate_limit_per_minute: int = Field(240, ge=0)


class PrivacySettings(BaseModel):
    """What the service keeps of what visitors write (config.yml `privacy:`)."""

    # Keep visitors' whole conversations (redacted); off by default (the quality loop keeps only its misses).
    store_transcripts: bool = False
    # Stored transcripts are deleted after this many days.
    transcript_retention_days: int = Field(30, ge=1)


class QualitySettings(BaseModel):
    """The quality loop: what visitors asked that the bot could not answer (config.yml `quality:`, api/quality.py)."""

    # Keep each visitor's question that ended in a fallback, a "did you mean", a "None of these" or a
    # not-helpful vote, redacted (bot/redact.py) and never a safety message. false: no question is kept
    # (the anonymous counts of turns per day still are).
    keep_misses: bool = True
    # Kept questions are deleted after this many days.
    retention_days: int = Field(90, ge=1)
    # Two kept questions whose joint vectors (meaning, and where the collection would send them) are at
    # least this similar on average fall into one cluster (embeddings/clusters.py).
    cluster_similarity: float = Field(0.6, gt=0, lt=1)
    # At most this many of the newest kept questions are clustered at a time.
    cluster_max_questions: int = Field(1000, ge=10, le=5000)
    # Adding a cluster's questions as alternates of the pair they lead to is the recommended action at or
    # above this score (a visitor's choice after a "did you mean" counts 1, else the retriever's confidence,
    # halved when the visitor turned its offers down; averaged over the questions); below, a new draft.
    alternate_min_score: float = Field(0.6, ge=0, le=1)
    # A message at least this similar (cosine, the served encoder) to a question of a cluster marked out
    # of scope gets the helpline fallback with the mark's reason, before retrieval.
    out_of_scope_similarity: float = Field(0.55, gt=0, le=1)


class OperationsSettings(BaseModel):
    """Metrics, logs and the replicas' shared state (config.yml `operations:`)."""

    # Prometheus metrics at /metrics.
    metrics: bool = True
    # Seconds between a replica's checks that the store changed under it (another replica published).
    sync_seconds: float = Field(2, gt=0)


class WebSettings(BaseModel):
    """The web pages and staff sign-in (config.yml `web:`).

    Origins are compared exactly as browsers send them (scheme://host[:port], no path), so each is
    normalised here once instead of at every request.
    """

    # Origins whose pages may embed the chat widget: only they may call /api/chat from a browser.
    allowed_origins: list[str] = []
    # A staff sign-in ends this many hours after it began, however busy ...
    session_hours: float = Field(8, gt=0)
    # ... and earlier when nothing was done for this many minutes.
    session_idle_minutes: float = Field(30, gt=0)
    # Failed sign-ins one account may have within signin_window_minutes before it waits (0: no limit).
    signin_max_failures_per_account: int = Field(5, ge=0)
    # Sign-in attempts one client address may make within signin_window_minutes (0: no limit).
    signin_max_attempts_per_client: int = Field(20, ge=0)
    signin_window_minutes: float = Field(15, gt=0)
    # Addresses (or networks, CIDR) of reverse proxies whose X-Forwarded-For names the client;
    # a forwarding header from anyone else is ignored. Empty: the connecting address is the client.
    trusted_proxies: list[str] = []
    # Request bodies larger than this are refused with 413 before they are read (bytes) ...
    max_body_bytes: int = Field(262_144, ge=1024)
    # ... except an import of Q&A pairs, which may be this large.
    max_import_bytes: int = Field(33_554_432, ge=1024)
    # Serve the interactive API documentation at /docs (its own files, same CSP as every page).
    api_docs: bool = True

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        out = []
        for origin in origins:
            o = origin.strip().rstrip("/").lower()
            parts = urlsplit(o)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port], e.g. https://www.example.org"
                )
            out.append(o)
        return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAQBOT_", env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    rasa_port: int = Field(5005, ge=1, le=65535)
    data_dir: Path = Path("./var")
    database_url: str = ""
    # Redis for sessions, rate limits and Rasa's tracker and lock stores (production profile).
    # Empty: they live in this process's memory (one replica only).
    redis_url: str = ""
    encoder: EncoderSettings = EncoderSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    retrain: RetrainSettings = RetrainSettings()
    bot: RasaSettings = RasaSettings()
    conversation: ConversationSettings = ConversationSettings()
    validation: ValidationSettings = ValidationSettings()
    chat: ChatSettings = ChatSettings()
    search: SearchSettings = SearchSettings()
    privacy: PrivacySettings = PrivacySettings()
    quality: QualitySettings = QualitySettings()
    operations: OperationsSettings = OperationsSettings()
    helpline: HelplineSettings = HelplineSettings()
    emergency: EmergencySettings = EmergencySettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        # A profile (config.prod.yml) changes a few keys of config.yml and inherits the rest.
        profile = profile_path()
        if profile is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=profile))
        path = config_path()
        if path.exists():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'faqbot.db'}"
        return self

    @property
    def bot_config(self) -> BotConfig:
        """What the conversation layer reads."""
        return BotConfig(conversation=self.conversation, helpline=self.helpline, emergency=self.emergency)

    @property
    def bot_model_dir(self) -> Path:
        return Path(self.bot.model_dir).expanduser().resolve() if self.bot.model_dir else self.data_dir / "bot-models"

    @property
    def encoder_cache_dir(self) -> Path:
        return self.encoder.cache_path(self.data_dir)

    @property
    def finetune_dir(self) -> Path:
        return self.encoder_cache_dir / "finetuned"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def retrain_dir(self) -> Path:
        """Where background retraining keeps its job folder and last status (embeddings/retraining.py)."""
        return self.data_dir / "retrain"

    @property
    def calibration_sets(self) -> list[Path]:
        """retrain.calibration_sets, relative paths taken from the project folder."""
        return [(REPO_ROOT / Path(p).expanduser()).resolve() for p in self.retrain.calibration_sets]

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


@lru_cache
def get_settings() -> Settings:
    return Settings()
