"""The FastAPI ingress on Ray Serve: the routes of docs/design.md and the web UI.

Build the application with :func:`build_app` (``serve run cluster/serve-local.yaml`` or ``editor-rl
serve``). Routes that write or export need ``Authorization: Bearer <token>`` (401 without one, 403
for a wrong one): a rater's own token (``editor-rl raters add``) for ``/api/edit``,
``/api/feedback/submit`` and ``/rating`` — the judgement's rater is the token's, and a body naming
another rater answers 403 — or the admin token, which alone may ``/export`` (and may submit for any
rater it names). ``/api/edit`` answers carry the ``model_version`` that made the edit (a rater's own
promoted version when they have one); ``GET /api/models`` lists the registry. Bodies
over ``max_body_bytes`` answer 413 while streaming; validation errors 422 naming the field; unknown
songs, pairs, candidates and audio 404; bad audio 422 with what is wrong with it; a judgement or
rating that contradicts the stored one 409; a full queue 503.
"""

import asyncio
import json
from pathlib import Path
from typing import Annotated, NamedTuple

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from ray import serve
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle
from starlette.datastructures import FormData, UploadFile as StarletteUploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from editor_rl.errors import ConflictError, EditorRLError, ForbiddenError, InvalidAudioError, InvalidEditError, StoreError
from editor_rl.serving.deployments import Editor, Feedback, Reward, ServeSettings, settle_heap
from editor_rl.serving.uploads import stage_upload
from editor_rl.serving.schemas import Accepted, AnotherRequest, AnotherResponse, EditRequest, EditResponse, RatingRequest, SubmitRequest
from editor_rl.serving import security
from editor_rl.rlhf.registry import ModelRegistry
from editor_rl.policy.shipped import policy_or_shipped
from editor_rl.serving.security import BodyLimit, bearer, resolve_token, token_ok

STATIC = Path(__file__).with_name("static")
LOST_REPLICA_RETRIES = 3
api = FastAPI(title="editor-rl", description="Edits of songs by a learned policy, and the human feedback that teaches it.")
api.add_middleware(BodyLimit)


class AudioResponse(FileResponse):
    """An audio file sent in 4 MiB pieces (FileResponse's are 64 KiB): every piece crosses from the
    ingress replica to Serve's proxy as one message, so a 16 MB edit takes 4 of them, not 256.
    Range requests (a browser's audio element) are answered as FileResponse answers them."""

    chunk_size = 4 * 2**20


def _error(e: Exception) -> HTTPException:
    """The HTTP answer for an exception from a deployment."""
    if isinstance(e, KeyError):
        return HTTPException(404, f"unknown id {e.args[0]!r}")
    if isinstance(e, ConflictError):
        return HTTPException(409, str(e))
    if isinstance(e, ForbiddenError):
        return HTTPException(403, str(e))
    if isinstance(e, (InvalidAudioError, InvalidEditError, StoreError)):
        return HTTPException(422, str(e))
    if isinstance(e, EditorRLError):
        return HTTPException(400, str(e))
    return HTTPException(500, f"{type(e).__name__}: {e}")


async def upload_form(request: Request, *, max_bytes: int) -> FormData:
    """An upload's multipart form with its file kept in memory (the body limit bounds it): starlette
    spools a file over 1 MiB to disk and then writes each 64 KiB piece it receives from a thread,
    which made a 3-minute WAV's form take about three times as long to read.

    Raises
    ------
    HTTPException
        400 for a malformed body, as starlette's own ``request.form()`` answers.
    """
    parser = MultiPartParser(request.headers, request.stream(), max_files=1, max_fields=16)
    parser.spool_max_size = max_bytes  # this parser's own: the class's default stays
    try:
        return await parser.parse()
    except MultiPartException as e:
        raise HTTPException(400, e.message) from None


class Caller(NamedTuple):
    """Who sent a request: the ``admin`` (admin token) or a registered ``rater``."""

    admin: bool
    rater: str | None


INGRESS_QUEUE = 200
"""Fewest requests the ingress holds waiting (see :func:`build_app`)."""


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=100, max_queued_requests=INGRESS_QUEUE)
@serve.ingress(api)
class Ingress:
    """HTTP in front of the Editor, Feedback and Reward deployments."""

    def __init__(self, settings: ServeSettings, editor: DeploymentHandle, feedback: DeploymentHandle, reward: DeploymentHandle) -> None:
        self.settings = settings
        self.uploads = Path(settings.data_dir) / "uploads"  # shared with the Editor replicas: uploads are staged there
        self.token = resolve_token(settings.data_dir)
        security.LIMITS["max_body_bytes"] = settings.max_body_bytes  # the module, not a copy: the middleware reads it
        self.editor, self.feedback, self.reward = editor, feedback, reward
        settle_heap()

    async def _caller(self, authorization: str | None, *, admin: bool = False) -> Caller:
        """Who sends the request: the admin, or a registered rater (401 without a token, 403 for an unknown one)."""
        if not authorization:
            raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
        if token_ok(authorization, self.token):
            return Caller(admin=True, rater=None)
        rater = await self._call(self.feedback, "rater_for_token", bearer(authorization)) if not admin else None
        if rater is None:
            raise HTTPException(403, "wrong bearer token" + (": this route needs the admin token" if admin else ""))
        return Caller(admin=False, rater=rater)

    @staticmethod
    def _as(caller: Caller, rater_id: str | None) -> str:
        """The rater a write is made as: the token's own (another name: 403), or the one the admin names."""
        if caller.admin:
            if not rater_id:
                raise HTTPException(422, "rater_id is required with the admin token")
            return rater_id
        if rater_id and rater_id != caller.rater:
            raise HTTPException(403, f"rater_id {rater_id!r} is not this token's rater")
        return caller.rater

    async def _call(self, handle: DeploymentHandle, method: str, *args):
        """Call a deployment; its errors become HTTP answers (a full queue: 503).

        A replica lost mid-request (its process or node died) is not the caller's fault: the call
        goes to another replica, up to :data:`LOST_REPLICA_RETRIES` times (every deployment method is
        safe to repeat: submits carry idempotency keys, edits and uploads make new files).
        """
        for attempt in range(LOST_REPLICA_RETRIES + 1):
            try:
                return await getattr(handle, method).remote(*args)
            except BackPressureError as e:
                raise HTTPException(503, f"busy: {method} has a full queue; try again shortly", headers={"Retry-After": "1"}) from e
            except (KeyError, EditorRLError) as e:
                raise _error(getattr(e, "cause", None) or e) from e
            except (RayActorError, ActorUnavailableError) as e:
                if attempt == LOST_REPLICA_RETRIES:
                    raise HTTPException(503, f"{method}: no replica answered ({type(e).__name__}); try again shortly", headers={"Retry-After": "1"}) from e
                await asyncio.sleep(0.2 * (attempt + 1))

    # -- health and UI ---------------------------------------------------------------------------
    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @api.get("/", include_in_schema=False)
    async def index(self) -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @api.get("/edit", include_in_schema=False)
    async def edit_page(self) -> FileResponse:
        """The page for people who want an edit: upload or pick a song, a length and a mood."""
        return FileResponse(STATIC / "edit.html", media_type="text/html")

    @api.get("/api/songs")
    async def songs(self) -> dict:
        """The stored songs' ids (an upload is edited by sending it with ``POST /api/edit``)."""
        return {"songs": await self._call(self.editor, "song_ids")}

    @api.get("/static/{name}", include_in_schema=False)
    async def static(self, name: str) -> FileResponse:
        path = STATIC / name
        if "/" in name or not path.is_file():
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(path)

    # -- edits -----------------------------------------------------------------------------------
    @api.post("/api/edit", response_model=EditResponse)
    async def edit(self, request: Request, response: Response, authorization: Annotated[str | None, Header()] = None) -> dict:
        """Edit a stored song (JSON ``{"song_id", "target_seconds", "temperature", "rater_id", "mood"}``) or an
        upload (multipart: ``audio`` file, ``target_seconds``, ``temperature``, ``rater_id``, ``mood`` fields).
        Temperature 0 (the default) gives the served version's best edit, above 0 a sample; a mood
        (a name or an arousal/valence point) steers the best edit toward it and is recorded in its EDL."""
        caller = await self._caller(authorization)
        ctype = request.headers.get("content-type", "")
        try:
            if ctype.startswith("multipart/form-data"):
                form = await upload_form(request, max_bytes=self.settings.max_body_bytes)
                try:
                    upload = form.get("audio")
                    if not isinstance(upload, StarletteUploadFile):
                        raise HTTPException(422, "multipart body needs a file field 'audio'")
                    body = EditRequest(song_id="upload", target_seconds=form.get("target_seconds", ""), temperature=form.get("temperature", 0.0),
                                       rater_id=form.get("rater_id") or None, mood=form.get("mood") or None)
                    data, name = await upload.read(), upload.filename or "upload"
                finally:
                    await form.close()
                staged = await asyncio.to_thread(stage_upload, data, name, uploads=self.uploads, allowed_formats=self.settings.config.audio.allowed_formats)
                song_id = await self._call(self.editor, "save_upload", str(staged), name)
            else:
                body = EditRequest.model_validate_json(await request.body())
                song_id = body.song_id
        except ValidationError as e:
            raise HTTPException(422, json.loads(e.json(include_url=False))) from e
        except InvalidAudioError as e:  # refused before it was staged
            raise _error(e) from e
        rater = (self._as(caller, body.rater_id) if body.rater_id or not caller.admin else None)
        out = await self._call(self.editor, "edit", song_id, body.target_seconds, body.temperature, rater, body.requested_mood())
        if isinstance(out, Exception):
            raise _error(out)
        sequence = out.pop("sequence", None)  # only an edit the answer does not score yet
        response.headers["X-Editor-Replica"] = out.pop("replica")
        if sequence is not None and await self._call(self.reward, "available", rater):  # the reward model's opinion (a best edit comes with it)
            (r,), (sd,) = await self._call(self.reward, "score", [sequence], rater)
            out |= {"reward": r, "reward_std": sd}
        return out

    @api.post("/api/edit/another", response_model=AnotherResponse)
    async def another(self, body: AnotherRequest, authorization: Annotated[str | None, Header()] = None) -> dict:
        """Another edit of an earlier best edit's job — the favourite of the rest of its candidates —
        and the pair the two make, stored for this rater to judge like any pair (it feeds the cycle)."""
        caller = await self._caller(authorization)
        rater = self._as(caller, body.rater_id)
        out = await self._call(self.editor, "another", body.edit_id, rater)
        if isinstance(out, Exception):
            raise _error(out)
        pair_id = await self._call(self.feedback, "pair_of_edits", out.pop("pair_request"))
        out.pop("replica")
        return {"edit": out, "first_edit_id": body.edit_id, "pair_id": pair_id}

    @api.get("/api/audio/{audio_id}")
    async def audio(self, audio_id: str) -> AudioResponse:
        """A rendered edit or a candidate's audio (WAV)."""
        path = await self._call(self.editor, "render_path", audio_id) or await self._call(self.feedback, "audio_path", audio_id)
        if not path:
            raise HTTPException(404, f"no audio {audio_id!r}")
        return AudioResponse(path, media_type="audio/wav")

    # -- feedback --------------------------------------------------------------------------------
    @api.get("/api/feedback/samples")
    async def samples(self, rater_id: Annotated[str, Query(min_length=1, max_length=200)], n: Annotated[int, Query(ge=1, le=50)] = 1) -> list[dict]:
        """Pairs chosen by active learning (the reward model's least certain), never one this rater judged,
        with a pending version's verification pairs mixed in (every other one)."""
        return await self._call(self.feedback, "samples", rater_id, n)

    @api.post("/api/feedback/submit", response_model=Accepted, response_model_exclude_none=True)
    async def submit(self, body: SubmitRequest, authorization: Annotated[str | None, Header()] = None) -> dict:
        """One A/B judgement by the token's rater; on a verification pair it may settle that version's round
        (promote or retire it), and the answer says so."""
        caller = await self._caller(authorization)
        return await self._call(self.feedback, "submit", body.model_dump() | {"rater_id": self._as(caller, body.rater_id)})

    @api.post("/api/feedback/rating", response_model=Accepted)
    async def rating(self, body: RatingRequest, authorization: Annotated[str | None, Header()] = None) -> dict:
        """Absolute 1–5 scores of one candidate by the token's rater."""
        caller = await self._caller(authorization)
        return await self._call(self.feedback, "rate", body.model_dump() | {"rater_id": self._as(caller, body.rater_id)})

    @api.get("/api/models")
    async def models(self) -> dict:
        """The model versions with their status (served / pending / retired / superseded) and their
        verification verdict so far, the one served to everyone and the raters' own."""
        return ModelRegistry(self.settings.data_dir).listing()

    @api.get("/api/feedback/stats")
    async def stats(self) -> dict:
        return await self._call(self.feedback, "stats")

    @api.get("/api/feedback/export")
    async def export(self, format: Annotated[str, Query(pattern="^(jsonl|parquet)$")] = "jsonl", authorization: Annotated[str | None, Header()] = None) -> Response:
        await self._caller(authorization, admin=True)
        data = await self._call(self.feedback, "export", format)
        media = "application/x-ndjson" if format == "jsonl" else "application/vnd.apache.parquet"
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="preferences.{format}"'})




def build_app(settings: ServeSettings | dict):
    """The Serve application (an ``import_path`` target: ``editor_rl.serving.app:build_app``).

    ``settings`` may be a dict (from a Serve config file's ``args``) with the fields of
    :class:`ServeSettings` and ``config`` (a config YAML path); without a ``checkpoint`` it serves
    the model shipped in the package.
    """
    if isinstance(settings, dict):
        from editor_rl.config import load_config

        args = dict(settings)
        cfg = load_config(args.pop("config", None))
        args["checkpoint"], args["reward"] = policy_or_shipped(args.get("checkpoint"), args.get("reward"))
        for key in ("checkpoint", "data_dir", "songs_dir", "candidates_dir", "reward"):  # relative to where `serve run` was started
            if args.get(key):
                args[key] = str(Path(args[key]).resolve())
        settings = ServeSettings(config=cfg, **args)
    q = settings.max_queued_requests
    editor = Editor.options(max_queued_requests=q, max_ongoing_requests=settings.max_ongoing_edits, num_replicas=settings.editor_replicas)
    # The ingress only routes, and requests wait in its queue while Serve assigns them: a full
    # ingress queue would be answered by Serve's proxy with a plain-text 503 that bypasses this
    # app's JSON errors, so it holds at least INGRESS_QUEUE; the deployments behind it shed load.
    return Ingress.options(max_queued_requests=max(4 * q, INGRESS_QUEUE)).bind(
        settings, editor.bind(settings), Feedback.options(max_queued_requests=4 * q).bind(settings), Reward.options(max_queued_requests=q).bind(settings))

