# A handler for AWS's tutorial bootstrap (a copy of ../tutorial/bootstrap) answering API
# Gateway REST events in proxy integration format, with bash and grep only.
function handler () {
  EVENT_DATA=$1
  if [[ "$EVENT_DATA" == *sleep* ]]; then sleep 5; fi
  if [[ "$EVENT_DATA" == *exit* ]]; then exit 7; fi
  EVENT_PATH=$(echo "$EVENT_DATA" | grep -oE '"path": ?"[^"]*"' | head -1 | sed -E 's/.*"([^"]*)"$/\1/')
  echo "{\"statusCode\": 201, \"headers\": {\"X-Runtime\": \"bash\"}, \"body\": \"bash saw $EVENT_PATH\"}"
}
