-- The ceiling answers every workload with its one template page.
local M = {}

function M.home(user)
  return wrk.format("GET", "/", {})
end

M.home_anon = M.home

return M
