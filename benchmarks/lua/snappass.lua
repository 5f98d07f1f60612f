-- snappass's own forms: POST / makes a link, GET of the link previews, POST of it reveals.
local M = {}
local FORM = "application/x-www-form-urlencoded"

function M.home(user)
  return wrk.format("GET", "/", {})
end

M.home_anon = M.home

function M.create(user)
  return wrk.format("POST", "/", { ["Content-Type"] = FORM },
    "password=correct+horse+battery+staple&ttl=Week")
end

-- confirm.html puts the link in a read-only input; keep its path.
function M.created(body)
  return string.match(body, 'id="password%-link" value="https?://[^/"]+(/[^"]+)"')
end

function M.open(user, link)
  return wrk.format("GET", link, {})
end

function M.opened(body)
  return true
end

-- preview.js submits an empty form by POST to the same address.
function M.reveal(user, link)
  return wrk.format("POST", link, { ["Content-Type"] = FORM }, "")
end

function M.revealed(body)
  return string.find(body, "correct horse battery staple", 1, true) ~= nil
end

return M
