#!/bin/bash
# soap.sh BODY  (uses cookie file)
PORT=$(python3 -c 'import json;print(json.load(open("/tmp/vt2/out.json"))["port"])')
curl -sS -b /tmp/vt2/cj -c /tmp/vt2/cj -H 'Content-Type: text/xml' -X POST "http://127.0.0.1:$PORT/sdk" --data-binary @- <<XML
<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>$1</soapenv:Body></soapenv:Envelope>
XML
echo
