import { zoneConfig } from "../shared/vite.zone.ts";

export default zoneConfig("online", "http://127.0.0.1:8080");
