import { zoneConfig } from "../shared/vite.zone.ts";

export default zoneConfig("offline", "http://127.0.0.1:8443");
