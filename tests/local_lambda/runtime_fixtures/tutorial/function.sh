function handler () {
  EVENT_DATA=$1
  if [[ "$EVENT_DATA" == *sleep* ]]; then sleep 5; fi
  if [[ "$EVENT_DATA" == *exit* ]]; then exit 7; fi
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="Echoing request: '$EVENT_DATA'"

  echo $RESPONSE
}
