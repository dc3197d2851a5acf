// Runs against a local stack: FRAMEGATE_API_URL and FRAMEGATE_API_KEY (a
// fg_test_ key with every scope), as `make dev` prints them. The Go test
// cmd/framegate TestDocsAndClients starts the stack and runs this file.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import { createFramegateClient, FramegateError, unwrap, type Video } from "../src/index.js";

const baseUrl = process.env.FRAMEGATE_API_URL;
const apiKey = process.env.FRAMEGATE_API_KEY ?? "";
assert.ok(baseUrl && apiKey, "set FRAMEGATE_API_URL and FRAMEGATE_API_KEY (make dev prints them)");
const fg = createFramegateClient({ baseUrl, apiKey });

test("auth: who the key is", async () => {
  const me = await unwrap(fg.GET("/auth"));
  assert.equal(me.environment, "test");
  assert.equal(me.key.kind, "primary");
  assert.ok(me.rateLimits.key.limit > 0);
});

test("keys: create, list, revoke", async () => {
  const key = await unwrap(fg.POST("/keys", { body: { name: "ts-client", role: "render" } }));
  assert.match(key.key ?? "", /^fg_test_/);
  const page = await unwrap(fg.GET("/keys", { params: { query: { limit: 100 } } }));
  assert.ok(page.data.some((k) => k.id === key.id));
  const revoked = await unwrap(fg.DELETE("/keys/{id}", { params: { path: { id: key.id } } }));
  assert.equal(revoked.status, "revoked");
});

test("errors: the envelope, typed, with the field", async () => {
  const bare = JSON.parse(await readFile(new URL("../../../../examples/hello.json", import.meta.url), "utf8"));
  // A bare spec instead of {"spec": …}: a 400 naming the field and saying what to do.
  const { error, response } = await fg.POST("/videos", { body: bare });
  assert.equal(response.status, 400);
  assert.equal(error?.error.code, "invalid_request");
  assert.equal(error?.error.field, "/resolution");
  assert.match(error?.error.message ?? "", /"spec"/);
  await assert.rejects(unwrap(fg.GET("/videos/{id}", { params: { path: { id: "vid_00000000000000000000000000" } } })), (e: unknown) => {
    assert.ok(e instanceof FramegateError);
    assert.equal(e.status, 404);
    assert.equal(e.code, "not_found");
    assert.ok(e.requestId);
    return true;
  });
});

test("videos: render, follow, download", async () => {
  const spec = JSON.parse(await readFile(new URL("../../../../examples/hello.json", import.meta.url), "utf8"));
  let video: Video = await unwrap(
    fg.POST("/videos", { body: { spec }, params: { header: { "Idempotency-Key": `ts-${Date.now()}` } } }),
  );
  assert.equal(video.status, "queued");
  const deadline = Date.now() + 60_000;
  while (!["succeeded", "failed", "cancelled"].includes(video.status)) {
    assert.ok(Date.now() < deadline, `render ${video.id} still ${video.status}`);
    await new Promise((r) => setTimeout(r, 200));
    video = await unwrap(fg.GET("/videos/{id}/status", { params: { path: { id: video.id } } }));
  }
  assert.equal(video.status, "succeeded", JSON.stringify(video.error));
  // fetch follows a 302 by itself: ask for the link instead, then fetch it
  // without the key.
  const link = await unwrap(
    fg.GET("/videos/{id}/download", { params: { path: { id: video.id }, query: { redirect: "false" } } }),
  );
  const file = await fetch(link.url);
  assert.equal(file.status, 200);
  assert.ok((await file.arrayBuffer()).byteLength > 1000);
  const list = await unwrap(fg.GET("/videos", { params: { query: { status: "succeeded" } } }));
  assert.ok(list.data.some((v) => v.id === video.id));
});

test("webhooks and templates", async () => {
  const ep = await unwrap(fg.POST("/webhooks", { body: { url: "http://127.0.0.1:9/hook", events: ["render.succeeded"] } }));
  assert.match(ep.secret ?? "", /^whsec_/);
  await unwrap(fg.DELETE("/webhooks/{id}", { params: { path: { id: ep.id } } }));
  const templates = await unwrap(fg.GET("/templates", { params: { query: { limit: 100 } } }));
  assert.ok(templates.data.some((t) => t.builtIn));
});
