-- Argo CD health of a kuberun Execution (kuberun.dev/v1alpha1).
--
-- The same verdict kstatus gives (docs/operator.md, "GitOps health"):
--   PENDING, RUNNING, CANCELLING            -> Progressing
--   SUCCESS                                 -> Healthy
--   COMPLETED_WITH_ERRORS, FAILED,
--   TIMED_OUT, CANCELLED                    -> Degraded (terminal: waiting will not fix it)
-- An Execution the operator has not seen yet, or not at its latest generation,
-- is Progressing. Written for Lua 5.1 (Argo CD's gopher-lua) and later.
local hs = {}
local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the kuberun operator to pick up the Execution"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the kuberun operator to observe generation " .. tostring(generation)
  return hs
end

local phase = status.phase
local detail = phase
if status.reason ~= nil and status.reason ~= "" then
  detail = detail .. " (" .. status.reason .. ")"
end
if status.message ~= nil and status.message ~= "" then
  detail = detail .. ": " .. status.message
end

if phase == "SUCCESS" then
  hs.status = "Healthy"
elseif phase == "PENDING" or phase == "RUNNING" or phase == "CANCELLING" then
  hs.status = "Progressing"
  if phase == "PENDING" and status.queuePosition ~= nil then
    detail = detail .. " (queue position " .. tostring(status.queuePosition) .. ")"
  end
elseif phase == "COMPLETED_WITH_ERRORS" or phase == "FAILED" or phase == "TIMED_OUT"
    or phase == "CANCELLED" then
  hs.status = "Degraded"
else
  hs.status = "Unknown"
  detail = "Unknown phase " .. tostring(phase)
end
hs.message = detail
return hs
