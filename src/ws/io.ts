export { takeIo } from "../transports/take_io.ts";
