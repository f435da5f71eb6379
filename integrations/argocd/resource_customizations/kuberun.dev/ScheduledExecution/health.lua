-- Argo CD health of a kuberun ScheduledExecution (kuberun.dev/v1alpha1).
--
-- A schedule is healthy while it schedules (Ready, reason Scheduled) or is suspended
-- (Suspended); an unusable schedule or zone is Degraded (Stalled, InvalidSchedule):
-- only an edit fixes it. A schedule the operator has not seen yet, or not at its
-- latest generation, is Progressing. Its runs are Executions with their own health.
-- Written for Lua 5.1 (Argo CD's gopher-lua) and later.
local hs = {}
local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the kuberun operator to pick up the ScheduledExecution"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the kuberun operator to observe generation " .. tostring(generation)
  return hs
end

local ready, stalled
for _, condition in ipairs(status.conditions) do
  if condition.type == "Ready" then ready = condition end
  if condition.type == "Stalled" then stalled = condition end
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
  return hs
end
if ready ~= nil and ready.status == "True" then
  if ready.reason == "Suspended" then
    hs.status = "Suspended"
  else
    hs.status = "Healthy"
  end
  hs.message = ready.reason
  if ready.message ~= nil and ready.message ~= "" then
    hs.message = hs.message .. ": " .. ready.message
  end
  return hs
end
hs.status = "Progressing"
hs.message = "Waiting for the kuberun operator to schedule"
return hs
