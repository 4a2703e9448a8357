import { render } from "preact";
import "../styles/base.css";
import "./results.css";
import { Results } from "./Results";

render(<Results />, document.getElementById("app")!);
