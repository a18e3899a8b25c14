import { teardown } from "./jest-global.mjs";
export default teardown;
