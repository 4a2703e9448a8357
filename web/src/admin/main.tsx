import { render } from "preact";
import "../styles/base.css";
import "./admin.css";
import { Admin } from "./Admin";

render(<Admin />, document.getElementById("app")!);
