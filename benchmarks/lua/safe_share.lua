-- Safe Share's requests, as a browser without JavaScript sends them: plain form posts with
-- the CSRF token as a form field, full pages back, the server encrypting (the no-JS path,
-- which stays supported). Every request shape of the benchmark lives here.
local M = {}
local SECRET = "correct+horse+battery+staple"
local FORM = "application/x-www-form-urlencoded"

local function escape(value)
  return (string.gsub(value, "[^%w%-_%.~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function M.home(user)
  return wrk.format("GET", "/", { Cookie = user.creator_cookie })
end

function M.home_anon()
  return wrk.format("GET", "/", {})
end

-- The create form, staff to a customer's email, one view.
function M.create(user)
  local body = "_csrf_token=" .. escape(user.creator_csrf) .. "&content=" .. SECRET ..
    "&recipient_email=" .. escape(user.recipient_email) .. "&expires_in=86400&max_views=1"
  return wrk.format("POST", "/secrets", { Cookie = user.creator_cookie, ["Content-Type"] = FORM },
    body)
end

-- The created page shows the link /s/<id>#<key>; the pool keeps "id key".
function M.created(body)
  local id, key = string.match(body, "/s/([%w_%-]+)#([%w_%-]+)")
  return id and (id .. " " .. key) or nil
end

function M.open(user, link)
  local id = string.match(link, "^(%S+)")
  return wrk.format("GET", "/s/" .. id, { Cookie = user.recipient_cookie })
end

function M.opened(body)
  return string.find(body, 'id="reveal"', 1, true) ~= nil
end

function M.reveal(user, link)
  local id, key = string.match(link, "^(%S+) (%S+)$")
  local body = "_csrf_token=" .. escape(user.recipient_csrf) .. "&key=" .. key
  return wrk.format("POST", "/s/" .. id .. "/reveal",
    { Cookie = user.recipient_cookie, ["Content-Type"] = FORM }, body)
end

function M.revealed(body)
  return string.find(body, "correct horse battery staple", 1, true) ~= nil
end

return M
