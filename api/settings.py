"""One typed settings object built from config.yml plus FAQBOT_* environment variables.

Environment variables win over the file; the file documents every key.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from embeddings.retriever import Scoring, Thresholds

REPO_ROOT = Path(__file__).resolve().parent.parent


def config_path() -> Path:
    return Path(os.environ.get("FAQBOT_CONFIG") or REPO_ROOT / "config.yml")


class EncoderSettings(BaseModel):
    model_path: str = ""
    backend: str = Field("onnx", pattern="^(onnx|torch)$")
    cache_size: int = Field(2048, ge=0)
    # Where the ONNX export (and the fine-tuned model) is kept. Empty: <data_dir>/encoder.
    cache_dir: str = ""
    # Fine-tune the encoder on the knowledge base's own alternates on first start (embeddings/finetune.py).
    finetune: bool = True


class RetrievalSettings(BaseModel):
    """Thresholds and scoring of the retriever; the defaults are the retriever's own."""

    answer_threshold: float = Field(Thresholds.answer, ge=0, le=1)
    clarify_threshold: float = Field(Thresholds.clarify, ge=0, le=1)
    clarify_margin: float = Field(Thresholds.margin, ge=0, le=1)
    clarify_options: int = Field(Thresholds.options, ge=2, le=5)
    ask_on_unknown_names: bool = Thresholds.ask_on_unknown_names
    historical_after_years: int = Field(5, ge=0)
    lexical_weight: float = Field(Scoring.lexical_weight, ge=0)
    lexical_saturation: float = Field(Scoring.lexical_saturation, gt=0)
    lexical_per_term: bool = Scoring.lexical_per_term
    answer_weight: float = Field(Scoring.answer_weight, ge=0)
    split_sentences: bool = Scoring.split_sentences
    spelling: bool = Scoring.spelling
    calibration_a: float = Scoring.calibration_a
    calibration_b: float = Scoring.calibration_b
    calibration_rare: float = Scoring.calibration_rare
    calibration_unknown: float = Scoring.calibration_unknown
    # The same, fitted for the packaged encoder: used when it is not fine-tuned (finetune off or failed).
    calibration_base_a: float = 7.498
    calibration_base_rare: float = -0.084
    calibration_base_unknown: float = -1.654
    calibration_base_b: float = -5.883

    def thresholds(self) -> Thresholds:
        return Thresholds(self.answer_threshold, self.clarify_threshold, self.clarify_margin, self.clarify_options,
                          self.ask_on_unknown_names)

    def scoring(self, finetuned: bool = True) -> Scoring:
        """The scoring, with the confidence fitted for the encoder in use (fine-tuned or packaged)."""
        if finetuned:
            a, b = self.calibration_a, self.calibration_b
            rare, unknown = self.calibration_rare, self.calibration_unknown
        else:
            a, b = self.calibration_base_a, self.calibration_base_b
            rare, unknown = self.calibration_base_rare, self.calibration_base_unknown
        return Scoring(lexical_weight=self.lexical_weight, lexical_saturation=self.lexical_saturation,
                       answer_weight=self.answer_weight, lexical_per_term=self.lexical_per_term,
                       split_sentences=self.split_sentences, spelling=self.spelling, calibration_a=a,
                       calibration_b=b, calibration_rare=rare, calibration_unknown=unknown)

    @model_validator(mode="after")
    def _ordered(self) -> "RetrievalSettings":
        if self.clarify_threshold > self.answer_threshold:
            raise ValueError("retrieval.clarify_threshold must not exceed retrieval.answer_threshold")
        return self


class ValidationSettings(BaseModel):
    # Two pairs whose questions or alternates are this similar (cosine) would fight in retrieval.
    near_duplicate_threshold: float = Field(0.95, gt=0, le=1)
    # Reading age = Flesch-Kincaid grade + 5; answers above this are reported as hard to read.
    max_reading_age: float = Field(12, gt=0)


class BotSettings(BaseModel):
    enabled: bool = True
    model_dir: str = ""
    timeout_seconds: float = Field(10, gt=0)


class ChatSettings(BaseModel):
    rate_limit_per_minute: int = Field(60, ge=0)


class HelplineSettings(BaseModel):
    name: str = "MS Society helpline"
    phone: str = "0808 800 8000"
    hours: str = ""
    url: str = "https://www.mssociety.org.uk/support-and-community/ms-helpline"

    @field_validator("name", "phone")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        # A visitor must never see an empty or placeholder contact.
        if not v.strip():
            raise ValueError("the helpline needs a name and a phone number")
        return v.strip()


class EmergencySettings(BaseModel):
    emergency_number: str = "999 (or 112)"
    urgent_number: str = "NHS 111"
    crisis_line: str = "Samaritans, 116 123 (free, any time)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAQBOT_", env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    rasa_port: int = Field(5005, ge=1, le=65535)
    data_dir: Path = Path("./var")
    database_url: str = ""
    encoder: EncoderSettings = EncoderSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    bot: BotSettings = BotSettings()
    validation: ValidationSettings = ValidationSettings()
    chat: ChatSettings = ChatSettings()
    helpline: HelplineSettings = HelplineSettings()
    emergency: EmergencySettings = EmergencySettings()

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
        path = config_path()
        if path.exists():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @model_validator(mode="after")
    def _resolve_paths(self) -> "Settings":
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'faqbot.db'}"
        return self

    @property
    def bot_model_dir(self) -> Path:
        return Path(self.bot.model_dir).expanduser().resolve() if self.bot.model_dir else self.data_dir / "bot-models"

    @property
    def encoder_cache_dir(self) -> Path:
        return Path(self.encoder.cache_dir).expanduser().resolve() if self.encoder.cache_dir else self.data_dir / "encoder"

    @property
    def finetune_dir(self) -> Path:
        return self.encoder_cache_dir / "finetuned"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


@lru_cache
def get_settings() -> Settings:
    return Settings()
